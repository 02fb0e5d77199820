"""Rules plot_data_overview / plot_widefield_overview: the data-overview figure of a dataset."""

from pathlib import Path

from neurodiff.data.tidy import read_tidy
from neurodiff.plots.data_overview import plot_overview, plot_widefield_sessions_overview
from neurodiff.plots.style import save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    preset = snakemake.params.preset
    datasets = [read_tidy(path) for path in snakemake.input]
    if snakemake.rule == "plot_widefield_overview":
        fig = plot_widefield_sessions_overview(datasets, preset)
    else:
        fig = plot_overview(datasets[0], preset)
    stem = Path(snakemake.output.png).with_suffix("")
    written = save_figure(fig, stem)
    log.info("wrote %s", ", ".join(map(str, written)))
