"""Rules gnocchi_fig*: draw one GNOCCHI figure from the evaluation arrays and metrics, then save it.

The rules name the figure (`params.figure`, the inventory stem's file name) and, for figures
2-5, the dataset whose evaluation it draws (`params.dataset`); this script calls its
`plot_figN_<name>` and writes the returned Figure with `save_figure` (PNG and PDF).

Titles name the data with `dataset_title`: the evaluation arrays do not record where their
data came from, so the source is read from the datasets their provenance sidecar lists (the
tidy file the evaluation read); figure 1 reads the tidy files' metadata directly.
"""

from pathlib import Path

from neurodiff.io import read_npz
from neurodiff.plots import gnocchi as plots
from neurodiff.plots.style import dataset_title, is_simulated, lineage_label, save_figure
from neurodiff.provenance import tidy_meta
from neurodiff.runlog import snakemake_job

FROM_EVALUATION = {
    "fig2_synthetic_latents": plots.plot_fig2_synthetic_latents,
    "fig3_synthetic_traversal": plots.plot_fig3_synthetic_traversal,
    "fig4_monkey_latents": plots.plot_fig4_monkey_latents,
    "fig5_monkey_heldout": plots.plot_fig5_monkey_heldout,
}


with snakemake_job(snakemake) as log:
    figure, preset = snakemake.params.figure, snakemake.params.preset
    stem = Path(snakemake.output.png).with_suffix("")
    if figure == "fig1_schematic":
        # the model code (torch) is needed only here: the noised example trial
        from neurodiff.models.gnocchi.experiment import (
            example_trial_and_noise,
            load_experiment_data,
            shape_summary,
        )
        from neurodiff.models.gnocchi.settings import GnocchiSettings

        cfg = snakemake.params.cfg
        settings = GnocchiSettings.from_config(cfg)
        data = {
            name: load_experiment_data(snakemake.input[name], name, settings.datasets[name])
            for name in ("reaching", "mc_maze")
        }
        example, noised = example_trial_and_noise(
            data["reaching"], settings.datasets["reaching"], settings.gnocchi.model, seed=0
        )
        metas = {name: tidy_meta(snakemake.input[name]) for name in data}
        shapes = {
            dataset_title(name, is_simulated(metas[name])): shape_summary(d)
            for name, d in data.items()
        }
        fig = plots.plot_fig1_schematic(cfg, example, noised, shapes, preset)
    else:
        arrays = read_npz(snakemake.input.arrays)
        metrics = plots.load_seed_metrics(snakemake.input.metrics)
        label = lineage_label([snakemake.input.arrays], snakemake.params.dataset)
        fig = FROM_EVALUATION[figure](
            arrays, metrics, snakemake.params.seed, preset, data_label=label
        )
    log.info("wrote %s", save_figure(fig, stem))
