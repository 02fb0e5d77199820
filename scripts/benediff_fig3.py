"""Rule benediff_fig3: per-region latent factors vs labels and single-trial reconstructions."""

from pathlib import Path

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.results import RegionLVMs
from neurodiff.plots.benediff import plot_fig3_latents
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    ds = read_tidy(snakemake.input.data, load_video=False)
    regions = [RegionLVMs.load(path) for path in snakemake.input.latents]
    fig = plot_fig3_latents(
        regions,
        snakemake.params.session,
        ds.bin_size_s,
        snakemake.params.preset,
        data_label=dataset_label(ds),
    )
    save_figure(fig, Path(snakemake.output.png).with_suffix(""))
    log.info("drew %d regions", len(regions))
