"""Rule gnocchi_evaluate: disentanglement, traversal and unseen-condition metrics of one seed."""

import torch

from neurodiff.io import write_json_atomic, write_npz
from neurodiff.models.gnocchi.evaluation import run_evaluation
from neurodiff.models.gnocchi.settings import GnocchiSettings
from neurodiff.runlog import snakemake_job
from neurodiff.train import select_device

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    dataset, seed = snakemake.wildcards.dataset, int(snakemake.wildcards.seed)
    metrics, arrays = run_evaluation(
        snakemake.input.data,
        dataset,
        GnocchiSettings.from_config(snakemake.params.cfg),
        snakemake.input.gnocchi,
        snakemake.input.lfads,
        seed,
        select_device(snakemake.params.device),
    )
    for model, values in metrics.items():
        log.info(
            "%s %s seed %d: %s", dataset, model, seed, {k: round(v, 4) for k, v in values.items()}
        )
    write_npz(snakemake.output.arrays, arrays, compressed=True)
    write_json_atomic(
        snakemake.output.metrics, {"dataset": dataset, "seed": seed, "models": metrics}
    )
