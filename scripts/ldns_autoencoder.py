"""Rule ldns_autoencoder: train the S4 autoencoder, keep the selected weights, encode all trials."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import write_npz
from neurodiff.models.ldns.fit import save_autoencoder, train_autoencoder
from neurodiff.models.ldns.generate import encode_dataset
from neurodiff.models.ldns.settings import AutoencoderSettings, from_mapping
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    dataset = snakemake.wildcards.dataset
    settings = from_mapping(
        AutoencoderSettings, snakemake.params.cfg, f"ldns.autoencoder.{dataset}"
    )
    ds = read_tidy(snakemake.input.data)
    train, val = ds.indices("train"), ds.indices("val")
    fit = train_autoencoder(
        ds.signals[train],
        ds.mask[train],
        ds.signals[val],
        ds.mask[val],
        settings,
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        snakemake.params.device,
    )
    log.info(
        "%s: selected step %d (rule %s), validation Poisson NLL %.5f",
        dataset,
        fit.step,
        settings.checkpoint,
        fit.val_poisson,
    )
    save_autoencoder(snakemake.output.model, fit, settings.architecture(ds.n_channels))
    encoded = encode_dataset(
        fit.model,
        ds,
        settings.latent_clip,
        {"selected_step": fit.step, "selected_val_poisson": fit.val_poisson},
    )
    write_npz(snakemake.output.latents, encoded.to_arrays())
    log.info("latents %s, scores %s", encoded.latents.shape, encoded.info)
