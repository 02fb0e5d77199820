"""Rule ldns_lfads: train the LFADS baseline, sample it from its prior (and 16× longer)."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import write_npz
from neurodiff.models.ldns.lfads_baseline import (
    posterior_factors,
    posterior_rates,
    prior_samples,
    train_lfads,
)
from neurodiff.models.ldns.settings import LFADSSettings, from_mapping
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    dataset = snakemake.wildcards.dataset
    settings = from_mapping(LFADSSettings, snakemake.params.cfg, f"ldns.lfads.{dataset}")
    ds = read_tidy(snakemake.input.data)
    train, test = ds.indices("train"), ds.indices("test")
    model = train_lfads(
        ds.signals[train],
        settings,
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        snakemake.params.device,
    )
    generator = torch.Generator().manual_seed(snakemake.params.seed)
    arrays = prior_samples(model, len(train), ds.n_bins, generator)
    arrays["posterior_factors"] = posterior_factors(model, ds.signals[test])
    arrays["posterior_trials"] = test
    arrays["train_rates"] = posterior_rates(model, ds.signals[train])  # fits LFADS+sh's GLM
    if settings.long_samples:
        long = prior_samples(
            model, settings.long_samples, ds.n_bins * snakemake.params.length_factor, generator
        )
        arrays |= {f"long_{key}": value for key, value in long.items()}
    write_npz(snakemake.output.samples, arrays)
    log.info("%s: %s", dataset, {k: v.shape for k, v in arrays.items()})
