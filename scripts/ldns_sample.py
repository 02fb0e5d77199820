"""Rule ldns_sample: draw latents from a trained diffusion model; decode to rates and spikes."""

from dataclasses import asdict

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.diffusion import make_schedule
from neurodiff.io import read_npz, write_npz
from neurodiff.models.ldns.fit import build_denoiser, load_autoencoder
from neurodiff.models.ldns.generate import EncodedData, sample_model
from neurodiff.models.ldns.settings import (
    BehaviorSettings,
    DenoiserSettings,
    DiffusionSettings,
    SamplingSettings,
    from_mapping,
)
from neurodiff.runlog import snakemake_job
from neurodiff.train import load_trained, select_device

VELOCITY_CHANNELS = 2

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    name = snakemake.wildcards.model
    settings = from_mapping(DenoiserSettings, snakemake.params.cfg, f"ldns.denoiser.{name}")
    diffusion = from_mapping(DiffusionSettings, snakemake.params.diffusion, "ldns.diffusion")
    sampling = from_mapping(SamplingSettings, snakemake.params.sampling, "ldns.sampling")
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    denoiser = build_denoiser(settings, encoded.latents.shape[1], VELOCITY_CHANNELS)
    device = select_device(snakemake.params.device)
    denoiser = load_trained(snakemake.input.denoiser, denoiser, use_ema=True).eval().to(device)
    autoencoder = load_autoencoder(snakemake.input.autoencoder).to(device)
    samples = sample_model(
        denoiser,
        autoencoder,
        encoded,
        read_tidy(snakemake.input.data),
        make_schedule(**asdict(diffusion)),
        settings,
        sampling,
        behavior,
        snakemake.params.seed,
    )
    write_npz(snakemake.output[0], samples)
    log.info("%s: %s", name, {k: v.shape for k, v in samples.items()})
