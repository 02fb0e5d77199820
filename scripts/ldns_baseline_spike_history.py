"""Rule ldns_baseline_spike_history: AutoLFADS+sh, a spike-history GLM fitted on AutoLFADS rates."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz, write_npz
from neurodiff.models.ldns.fit import channels_first, channels_last, train_spike_history
from neurodiff.models.ldns.settings import SpikeHistorySettings, from_mapping
from neurodiff.models.ldns.spike_history import sample_spike_history
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    settings = from_mapping(SpikeHistorySettings, snakemake.params.cfg, "ldns.spike_history")
    ds = read_tidy(snakemake.input.data)
    samples = read_npz(snakemake.input.autolfads)
    # fitted on the method's own inferred (posterior) rates of the training trials
    glm = train_spike_history(
        ds.signals[ds.indices("train")],
        samples["posterior_rates"],
        settings,
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        snakemake.params.device,
    )
    generator = torch.Generator().manual_seed(snakemake.params.seed)
    spikes = sample_spike_history(
        glm, channels_first(samples["rates"]), generator, settings.sample_cap
    )
    arrays = {"autolfads": channels_last(spikes)}
    write_npz(snakemake.output.samples, arrays)
    log.info("baseline spike-history samples: %s", {k: v.shape for k, v in arrays.items()})
