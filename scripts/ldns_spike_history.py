"""Rule ldns_spike_history: fit the spike-history GLM per method (LDNS on AE rates, LFADS on its
inferred rates) and resample each method's rates with its own GLM."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz, write_npz
from neurodiff.models.ldns.evaluation import spike_history_sources
from neurodiff.models.ldns.fit import channels_first, channels_last, train_spike_history
from neurodiff.models.ldns.generate import EncodedData
from neurodiff.models.ldns.settings import SpikeHistorySettings, from_mapping
from neurodiff.models.ldns.spike_history import sample_spike_history
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    settings = from_mapping(SpikeHistorySettings, snakemake.params.cfg, "ldns.spike_history")
    ds = read_tidy(snakemake.input.data)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    train = ds.indices("train")
    lfads = read_npz(snakemake.input.lfads)
    # each method's GLM is fitted on that method's own inferred rates of the training trials
    fit_rates = {"ldns": encoded.rates[train], "lfads": lfads["train_rates"]}
    run_dirs = {
        "ldns": Path(snakemake.output.model).parent,
        "lfads": Path(snakemake.output.lfads_model).parent,
    }
    glms = {
        key: train_spike_history(
            ds.signals[train],
            rates,
            settings,
            run_dirs[key],
            snakemake.params.seed,
            snakemake.params.device,
        )
        for key, rates in fit_rates.items()
    }
    sources = spike_history_sources(read_npz(snakemake.input.ldns), lfads)
    generator = torch.Generator().manual_seed(snakemake.params.seed)
    arrays = {
        name: channels_last(
            sample_spike_history(
                glms[name.split("_")[0]], channels_first(rates), generator, settings.sample_cap
            )
        )
        for name, rates in sources.items()
    }
    write_npz(snakemake.output.samples, arrays)
    log.info("spike-history samples: %s", {k: v.shape for k, v in arrays.items()})
