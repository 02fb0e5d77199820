"""Rule ldns_denoiser: train one latent diffusion model (EMA weights kept by the training loop)."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.fit import diffusion_schedule, train_denoiser
from neurodiff.models.ldns.generate import EncodedData, denoiser_inputs
from neurodiff.models.ldns.settings import (
    BehaviorSettings,
    DenoiserSettings,
    from_mapping,
)
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    name = snakemake.wildcards.model
    settings = from_mapping(DenoiserSettings, snakemake.params.cfg, f"ldns.denoiser.{name}")
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    inputs = denoiser_inputs(encoded, read_tidy(snakemake.input.data), settings, behavior)
    log.info(
        "%s: %d training sequences %s, conditions %s",
        name,
        len(inputs.x0),
        tuple(inputs.x0.shape[1:]),
        list(inputs.cond),
    )
    train_denoiser(
        inputs,
        settings,
        diffusion_schedule(snakemake.params.diffusion),
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        snakemake.params.device,
    )
