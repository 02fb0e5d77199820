"""Rule gnocchi_train: train GNOCCHI or LFADS on one dataset with one seed (resumes checkpoints)."""

from pathlib import Path

import torch

from neurodiff.models.gnocchi.experiment import (
    builder_settings,
    gnocchi_transform,
    load_experiment_data,
    train_model,
)
from neurodiff.models.gnocchi.settings import DatasetSettings, ModelSettings
from neurodiff.runlog import snakemake_job
from neurodiff.settings import from_mapping

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    kind, dataset, seed = (
        snakemake.wildcards.model,
        snakemake.wildcards.dataset,
        int(snakemake.wildcards.seed),
    )
    data_cfg = from_mapping(
        DatasetSettings, snakemake.params.dataset_cfg, f"gnocchi.datasets.{dataset}"
    )
    model = ModelSettings.from_config(snakemake.params.model_cfg, f"gnocchi.{kind}")
    data = load_experiment_data(snakemake.input[0], dataset, data_cfg)
    log.info(
        "%s: %d training, %d evaluation, %d unseen-condition trials",
        dataset,
        data.train_idx.size,
        data.eval_idx.size,
        data.unseen_idx.size,
    )
    transform = gnocchi_transform(data, data_cfg) if kind == "gnocchi" else None
    result = train_model(
        kind,
        data,
        builder_settings(kind, model.model, snakemake.params.code_dim),
        model.train,
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
