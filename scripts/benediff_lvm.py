"""Rule benediff_lvm: every LVM method × seed of one region-hemisphere of one session."""

from pathlib import Path

import pandas as pd
import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import atomic_path
from neurodiff.models.benediff.fit import fit_region_lvms
from neurodiff.models.benediff.report import TABLE1_METRICS
from neurodiff.models.benediff.settings import LvmSettings, MetricsSettings
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params
    lvm, metrics = LvmSettings.from_config(params.lvm), MetricsSettings.from_config(params.metrics)
    ds = read_tidy(snakemake.input[0], load_video=False)
    region = snakemake.wildcards.region
    fitted = fit_region_lvms(
        ds,
        region,
        lvm,
        metrics,
        params.seeds,
        Path(snakemake.output.latents).parent / "runs",
        params.device,
    )
    fitted.save(snakemake.output.latents)
    metrics = pd.DataFrame(fitted.metrics).assign(session=snakemake.wildcards.session)
    with atomic_path(snakemake.output.metrics) as tmp:
        metrics.to_csv(tmp, index=False)
    summary = metrics.groupby("method")[list(TABLE1_METRICS)].mean()
    log.info("%s %s:\n%s", snakemake.wildcards.session, region, summary.round(3))
