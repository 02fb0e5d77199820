"""Rule gnocchi_train: train GNOCCHI or LFADS on one dataset with one seed (resumes checkpoints)."""

from pathlib import Path

import torch

from neurodiff.models.gnocchi.experiment import (
    gnocchi_transform,
    load_experiment_data,
    model_settings,
    train_model,
)
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    kind, dataset, seed = (
        snakemake.wildcards.model,
        snakemake.wildcards.dataset,
        int(snakemake.wildcards.seed),
    )
    data_cfg = snakemake.params.dataset_cfg
    data = load_experiment_data(snakemake.input[0], dataset, data_cfg)
    log.info(
        "%s: %d training, %d evaluation, %d unseen-condition trials",
        dataset,
        data.train_idx.size,
        data.eval_idx.size,
        data.unseen_idx.size,
    )
    transform = gnocchi_transform(data, data_cfg) if kind == "gnocchi" else None
    cfg = {"code_dim": snakemake.params.code_dim, kind: snakemake.params.model_cfg}
    result = train_model(
        kind,
        data,
        model_settings(kind, cfg),
        snakemake.params.model_cfg["train"],
        seed,
        Path(snakemake.output[0]).parent,
        transform,
        device=snakemake.params.device,
    )
    log.info(
        "trained %s (resumed from step %d); last log row %s",
        kind,
        result.resumed_from,
        result.history[-1] if result.history else None,
    )
