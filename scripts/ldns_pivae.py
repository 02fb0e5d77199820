"""Rule ldns_pivae: fit pi-VAE on MC_Maze time bins with reach-angle labels; sample its prior."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import write_npz
from neurodiff.models.baselines.pivae import PiVAESettings, angle_labels, pivae_samples, train_pivae
from neurodiff.models.ldns.generate import hand_velocity, reach_angle
from neurodiff.models.ldns.settings import BehaviorSettings, from_mapping
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    settings = from_mapping(PiVAESettings, snakemake.params.cfg, "ldns.pivae")
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    labels = angle_labels(reach_angle(hand_velocity(ds, behavior)[train], behavior.onset_bin))
    model = train_pivae(
        ds.signals[train],
        labels,
        settings,
        Path(snakemake.output.model).parent,
        snakemake.params.seed,
        snakemake.params.device,
    )
    # one sample per training trial, conditioned on that trial's label (as the LDNS authors)
    arrays = pivae_samples(
        model, labels, ds.n_bins, torch.Generator().manual_seed(snakemake.params.seed)
    )
    write_npz(snakemake.output.samples, arrays)
    log.info("pi-VAE samples: %s", {k: v.shape for k, v in arrays.items()})
