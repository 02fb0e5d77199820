"""Rule benediff_video_diffusion: space-time U-Net diffusion model of one session's codes."""

import torch

from neurodiff.io import read_npz
from neurodiff.models.benediff.fit import (
    build_schedule,
    model_run_dir,
    save_video_diffusion,
    train_video_diffusion,
)
from neurodiff.models.benediff.settings import DiffusionSettings
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    section = DiffusionSettings.from_config(snakemake.params.section)
    seed = snakemake.params.seed
    stored = read_npz(snakemake.input.codes, ("codes", "split"))
    codes, split = stored["codes"], stored["split"]
    train_codes = codes[split == "train"]
    run_dir = model_run_dir(snakemake.output.model, "diffusion", section, seed, codes.shape[1:])
    model = train_video_diffusion(train_codes, section, seed, run_dir, snakemake.params.device)
    save_video_diffusion(snakemake.output.model, model, build_schedule(section))
    log.info("trained on %d code videos of shape %s", len(train_codes), train_codes.shape[1:])
