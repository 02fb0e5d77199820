"""Rule ldns_table1: spike statistics of every MC_Maze method vs the training data (Table 1)."""

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.evaluation import (
    TRUTH_ROW,
    read_monkey_methods,
    table1,
    table1_display,
)
from neurodiff.models.ldns.generate import true_rate_spikes
from neurodiff.models.ldns.settings import EvaluationSettings, from_mapping
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

TITLE = "Table 1 (LDNS), {preset} preset"
CAPTION = (
    "MC_Maze: spike statistics of each method's samples vs the {n} training trials, mean ± std "
    "over {k} bootstrap resamples of the samples (KL of population spike count densities, RMSE "
    "of pairwise correlations over the full N×N matrix, RMSE of per-neuron mean and std ISI in "
    "seconds). Every row uses the same resamples and one count grid.{truth} Last row: random "
    "halves of the data against each other (ISI rows: a half against the full data's ISI "
    "statistics, as the authors' notebook). Computed by this run; not the paper's numbers."
)
TRUTH_NOTE = (
    ' Row "{row}" (simulation only): Poisson spikes of the simulator\'s true rates of the '
    "training trials, scored like a method: what a perfect model reaches at this sample size."
)

with snakemake_job(snakemake) as log:
    cfg = from_mapping(EvaluationSettings, snakemake.params.cfg, "ldns.evaluation")
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    data = ds.signals[train]
    methods = read_monkey_methods(snakemake.input)
    truth = None
    if snakemake.input.truth:
        generator = torch.Generator().manual_seed(cfg.seed)
        truth = true_rate_spikes(read_npz(snakemake.input.truth[0]), ds, train, generator)
    table = table1(
        methods,
        data,
        fps=1 / ds.bin_size_s,
        n_resamples=cfg.n_bootstrap,
        seed=cfg.seed,
        truth_spikes=truth,
    )
    write_table(
        snakemake.output.csv,
        table,
        table1_display(table),
        title=TITLE.format(preset=snakemake.params.preset),
        caption=CAPTION.format(
            n=len(data),
            k=cfg.n_bootstrap,
            truth=TRUTH_NOTE.format(row=TRUTH_ROW) if truth is not None else "",
        ),
        md_path=snakemake.output.md,
    )
    log.info("\n%s", table1_display(table).to_string(index=False))
