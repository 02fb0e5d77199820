"""Rule benediff_table2: guided-video specificity per session, region and factor."""

import pandas as pd

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.report import (
    CSV_FLOAT_FORMAT,
    TABLE2_METRICS,
    planted_pairs,
    table2_guidance_specificity,
)
from neurodiff.runlog import snakemake_job
from neurodiff.tables import mean_std_columns, write_table

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
    display = mean_std_columns(table, TABLE2_METRICS).drop(columns=["method"])
    display = display.rename(columns={"method_label": "method"})
    write_table(
        snakemake.output.csv,
        table,
        display,
        title="BeNeDiff table 2: specificity of guided behaviour videos",
        caption=NOTES.format(preset=snakemake.params.preset),
        md_path=snakemake.output.md,
        float_format=CSV_FLOAT_FORMAT,
    )
    log.info("wrote %d rows", len(table))
