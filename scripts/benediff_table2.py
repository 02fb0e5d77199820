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
    write_table(snakemake.output.csv, table, mean_std_columns(table, TABLE2_METRICS),
                title="BeNeDiff table 2: specificity of guided behaviour videos",
                caption=NOTES.format(preset=snakemake.params.preset),
                md_path=snakemake.output.md, float_format=CSV_FLOAT_FORMAT)
    log.info("wrote %d rows", len(table))
