"""Rule benediff_table2: guided-video specificity per session, region and factor."""

import pandas as pd

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.report import (
    TABLE2_METRICS,
    planted_pairs,
    table2_guidance_specificity,
    write_benediff_table,
)
from neurodiff.runlog import snakemake_job

TITLE = "BeNeDiff table 2: specificity of guided behaviour videos"
NOTES = """
Guidance raises Var_t of one latent dim of one region's LVM (method: BeNeDiff, or a baseline's
latents), read from the generated frame codes by a linear encoder (encoder_r2: its held-out R²
for that dim). kind "label": the dim standing for a label (a supervised LVM's tied dim, a
β-VAE's largest-MI dim); kind "control": an unsupervised dim (negative control; its factor
column names the dim, and its specificity is the largest over the labels, target_label). Labels
are read from the decoded frames ("exact": the simulated video's exact extractor; "ridge": a
pixel → label ridge decoder fitted on training frames). ratio_j = mean Var_t(label_j) guided /
unguided (same initial noise); specificity = ratio of the target label / mean ratio of the
other labels (> 1: selective). scale: the guidance scale, chosen per method among the
candidates on other initial noises with a reader fitted on validation trials. planted: whether
the simulation planted the label in the region. Mean ± std over LVM seeds. Preset: {preset}.
"""

with snakemake_job(snakemake) as log:
    rows = pd.concat([pd.read_csv(path) for path in snakemake.input.specificity], ignore_index=True)
    planted = {}
    for path in snakemake.input.data:
        ds = read_tidy(path, load_video=False)
        if "planted" in ds.truth:
            planted |= planted_pairs(
                ds.truth["planted"],
                ds.truth["region_names"].tolist(),
                ds.truth["factor_names"].tolist(),
                ds.meta["session"],
                ds.behavior_names,
            )
    table = table2_guidance_specificity(rows, planted)
    caption = NOTES.format(preset=snakemake.params.preset)
    write_benediff_table(
        snakemake.output.csv, snakemake.output.md, table, TABLE2_METRICS, TITLE, caption
    )
    log.info("wrote %d rows", len(table))
