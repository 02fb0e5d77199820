"""Rule ldns_tndm: fit TNDM on MC_Maze spikes and hand velocity, sample it from its priors."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import write_npz
from neurodiff.models.baselines.tndm import TNDMSettings, train_tndm
from neurodiff.models.ldns.generate import hand_velocity
from neurodiff.models.ldns.settings import BehaviorSettings, from_mapping
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    settings = from_mapping(TNDMSettings, snakemake.params.cfg, "ldns.tndm")
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    velocity = hand_velocity(ds, behavior)[train].transpose(0, 2, 1)  # (trials, time, 2)
    model, _ = train_tndm(
        ds.signals[train],
        velocity,
        settings,
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        snakemake.params.device,
    )
    generator = torch.Generator().manual_seed(snakemake.params.seed)
    out = model.sample_from_prior(len(train), ds.n_bins, generator)
    arrays = {
        "rates": out["rates"].numpy(),
        "spikes": torch.poisson(out["rates"], generator).numpy(),
        "rel_factors": out["rel_factors"].numpy(),
        "irr_factors": out["irr_factors"].numpy(),
    }
    write_npz(snakemake.output.samples, arrays)
    log.info("TNDM samples: %s", {k: v.shape for k, v in arrays.items()})
