"""Rule benediff_table2: guided-video specificity per session, region and factor."""

from pathlib import Path

import pandas as pd

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.report import (
    TABLE2_METRICS,
    format_mean_std,
    planted_pairs,
    table2_guidance_specificity,
    write_table,
)
from neurodiff.runlog import snakemake_job

NOTES = """
Guidance raises Var_t of one region's behaviour-tied latent factor, read from the generated
frame codes by the linear encoder (encoder_r2: held-out R² of that encoder for the factor).
Labels are read from the decoded frames ("exact": the simulated video's exact extractor;
"ridge": a pixel → label ridge decoder fitted on real frames). ratio_j = mean Var_t(label_j)
guided / unguided (same initial noise); specificity = ratio of the activated factor's label /
mean ratio of the other labels (> 1: selective). latent_variance_ratio: the same ratio for the
encoder's reading of the factor. planted: whether the simulation planted the label in the
region (unknown for real data). Mean ± std over LVM seeds. Preset: {preset}.
"""

with snakemake_job(snakemake) as log:
    rows = pd.concat([pd.read_csv(path) for path in snakemake.input.specificity],
                     ignore_index=True)
    planted = {}
    for path in snakemake.input.data:
        ds = read_tidy(path, load_video=False)
        if "planted" in ds.truth:
            planted |= planted_pairs(ds.truth["planted"], ds.truth["region_names"].tolist(),
                                     ds.truth["factor_names"].tolist(), ds.meta["session"],
                                     ds.behavior_names)
    table = table2_guidance_specificity(rows, planted)
    display = format_mean_std(table, TABLE2_METRICS, digits=2)
    write_table(table, display, Path(snakemake.output.csv).with_suffix(""),
                "BeNeDiff table 2: specificity of guided behaviour videos",
                NOTES.format(preset=snakemake.params.preset))
    log.info("wrote %d rows", len(table))
