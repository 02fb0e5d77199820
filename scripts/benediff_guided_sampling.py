"""Rule benediff_guided_sampling: guided and unguided behaviour videos of one session."""

import pandas as pd
import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import atomic_path, read_npz
from neurodiff.models.benediff.fit import load_frame_autoencoder, load_video_diffusion
from neurodiff.models.benediff.generate import guide_session
from neurodiff.models.benediff.results import RegionLVMs
from neurodiff.models.benediff.settings import GuidanceSettings
from neurodiff.models.benediff.video import CodeScaler
from neurodiff.runlog import snakemake_job
from neurodiff.train import select_device

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    guidance = GuidanceSettings.from_config(snakemake.params.section)
    ds = read_tidy(snakemake.input.data)
    stored = read_npz(snakemake.input.codes, ("codes", "low", "high"))
    codes, scaler = stored["codes"], CodeScaler(stored["low"], stored["high"])
    regions = {}
    for path in snakemake.input.latents:
        fitted = RegionLVMs.load(path)
        regions[fitted.region] = fitted
    unet, schedule = load_video_diffusion(snakemake.input.diffusion)
    samples, rows, selection = guide_session(
        ds,
        codes,
        scaler,
        load_frame_autoencoder(snakemake.input.autoencoder),
        unet,
        schedule,
        regions,
        guidance,
        snakemake.params.mig_bins,
        select_device(snakemake.params.device),
    )
    samples.save(snakemake.output.samples, ds.behavior_names)
    with atomic_path(snakemake.output.selection) as tmp:
        pd.DataFrame(selection).assign(session=snakemake.wildcards.session).to_csv(tmp, index=False)
    table = pd.DataFrame(rows).assign(session=snakemake.wildcards.session)
    with atomic_path(snakemake.output.specificity) as tmp:
        table.to_csv(tmp, index=False)
    log.info(
        "specificity (mean over seeds):\n%s",
        table.groupby(["method", "reader", "kind"])["specificity"].mean().round(2),
    )
