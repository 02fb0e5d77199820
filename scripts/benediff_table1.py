"""Rule benediff_table1: LVM metrics per session, region and method (mean ± std over seeds)."""

from pathlib import Path

import pandas as pd

from neurodiff.models.benediff.report import (
    TABLE1_METRICS,
    format_mean_std,
    table1_lvm_metrics,
    write_table,
)
from neurodiff.runlog import snakemake_job

NOTES = """
Neural R²: held-out (test) trials, posterior-mean latents decoded, per component then averaged.
Behaviour R²: ridge decoder from the latent means to the labels, fitted on training trials,
scored on test trials, averaged over labels (a region that does not encode a label scores ~0
on it). MIG: latent means vs labels over the (trial, time) samples of all trials, 20
equal-frequency bins. "supervised (no TC)" is the behaviour-supervised LVM without the
total-correlation term (the authors' "self-supervised" curve). Preset: {preset}.
"""

with snakemake_job(snakemake) as log:
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table = table1_lvm_metrics(metrics)
    display = format_mean_std(table, TABLE1_METRICS).drop(columns=["method"])
    display = display.rename(columns={"method_label": "method"})
    write_table(table, display, Path(snakemake.output.csv).with_suffix(""),
                "BeNeDiff table 1: LVM reconstruction, behaviour and disentanglement",
                NOTES.format(preset=snakemake.params.preset))
    log.info("wrote %d rows", len(table))
