"""Rule ldns_sample: draw latents from a trained diffusion model; decode to rates and spikes."""

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz, write_npz
from neurodiff.models.ldns.fit import diffusion_schedule, load_sampling_models
from neurodiff.models.ldns.generate import EncodedData, sample_model
from neurodiff.models.ldns.settings import (
    BehaviorSettings,
    DenoiserSettings,
    SamplingSettings,
    from_mapping,
)
from neurodiff.runlog import snakemake_job
from neurodiff.train import select_device

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    name = snakemake.wildcards.model
    settings = from_mapping(DenoiserSettings, snakemake.params.cfg, f"ldns.denoiser.{name}")
    sampling = from_mapping(SamplingSettings, snakemake.params.sampling, "ldns.sampling")
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    denoiser, autoencoder = load_sampling_models(
        snakemake.input.denoiser,
        snakemake.input.autoencoder,
        settings,
        encoded.latents.shape[1],
        select_device(snakemake.params.device),
    )
    samples = sample_model(
        denoiser,
        autoencoder,
        encoded,
        read_tidy(snakemake.input.data),
        diffusion_schedule(snakemake.params.diffusion),
        settings,
        sampling,
        behavior,
        snakemake.params.seed,
    )
    write_npz(snakemake.output[0], samples)
    log.info("%s: %s", name, {k: v.shape for k, v in samples.items()})
