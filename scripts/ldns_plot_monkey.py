"""Rule ldns_figures_mc_maze: Fig. 4 and Supp. A10, A11, A13–A16 (unconditional MC_Maze)."""

from pathlib import Path

import pandas as pd
import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.evaluation import TABLE1_METRICS, TRUTH_ROW, read_monkey_methods
from neurodiff.models.ldns.generate import EncodedData, poisson_from_rates
from neurodiff.models.ldns.settings import EvaluationSettings, from_mapping
from neurodiff.plots import ldns as plots
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    preset = snakemake.params.preset
    evaluation = from_mapping(EvaluationSettings, snakemake.params.evaluation, "ldns.evaluation")
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    data, bin_s = ds.signals[train], ds.bin_size_s
    label = dataset_label(ds)
    methods = read_monkey_methods(snakemake.input)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    ae_spikes = poisson_from_rates(
        encoded.rates[train], torch.Generator().manual_seed(evaluation.seed)
    )
    draw = {
        "fig4_monkey": lambda: plots.plot_fig4_monkey(
            data,
            methods["LDNS"],
            methods["LDNS+sh"],
            bin_s,
            evaluation.max_lag,
            evaluation.n_groups,
            preset,
            data_label=label,
            table1=pd.read_csv(snakemake.input.table1),
        ),
        "figA10_correlation_matrices": lambda: plots.plot_figA10_correlation_matrices(
            data, ae_spikes, methods["LDNS"], preset, data_label=label
        ),
        "figA11_rasters": lambda: plots.plot_figA11_rasters(
            data, methods["LDNS"], bin_s, preset, data_label=label
        ),
        "figA13_metric_bars": lambda: plots.plot_figA13_metric_bars(
            pd.read_csv(snakemake.input.table1),
            preset,
            TABLE1_METRICS,
            data_label=label,
            floor_rows=[TRUTH_ROW],
        ),
        "figA14_method_rasters": lambda: plots.plot_figA14_method_rasters(
            data, methods, bin_s, preset, data_label=label
        ),
        "figA15_pca_psd": lambda: plots.plot_figA15_pca_psd(
            data,
            methods,
            bin_s,
            evaluation.smoothing_sigma_s["mc_maze"],
            evaluation.pca_components,
            preset,
            data_label=label,
        ),
        "figA16_method_statistics": lambda: plots.plot_figA16_method_statistics(
            data, methods, bin_s, preset, data_label=label
        ),
    }
    for png in snakemake.output.png:
        stem = Path(png).with_suffix("")
        log.info("wrote %s", save_figure(draw[stem.name](), stem))
