"""Rule benediff_table1: LVM metrics per session, region and method (mean ± std over seeds)."""

import pandas as pd

from neurodiff.models.benediff.report import (
    TABLE1_METRICS,
    table1_lvm_metrics,
    write_benediff_table,
)
from neurodiff.runlog import snakemake_job

TITLE = "BeNeDiff table 1: LVM reconstruction, behaviour and disentanglement"
NOTES = """
Neural R²: held-out (test) trials, posterior-mean latents decoded, per component then averaged.
Behaviour R²: ridge decoder from the latent means to the labels, fitted on training trials,
scored on test trials, averaged over labels (a region that does not encode a label scores ~0
on it). MIG: latent means vs labels over the (trial, time) samples of all trials, 20
equal-frequency (quantile) bins. Leakage R²: the same decoder from the unsupervised dims only
(supervised models: the dims not tied to a label; β-VAE, β-TCVAE: the dims that are not any
label's largest-MI dim on training trials); 0 = no behaviour in them. Gaussian TC: −½ log det
of the correlation of the test-trial latent means (nats, 0 = uncorrelated; two labels correlated
at r contribute −½ log(1 − r²) if their dims follow them). Cross-block MI: Gaussian MI between
the label dims and the unsupervised dims (nats). "supervised (no TC)" is the
behaviour-supervised LVM without the total-correlation term (the authors' "self-supervised"
curve). Preset: {preset}.
"""

with snakemake_job(snakemake) as log:
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table = table1_lvm_metrics(metrics)
    caption = NOTES.format(preset=snakemake.params.preset)
    write_benediff_table(
        snakemake.output.csv, snakemake.output.md, table, TABLE1_METRICS, TITLE, caption
    )
    log.info("wrote %d rows", len(table))
