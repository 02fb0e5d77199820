"""Rule benediff_fig5: cross-hemisphere analysis of paw factors (affine map and CCA)."""

from pathlib import Path

from neurodiff.data.tidy import read_tidy
from neurodiff.models.benediff.analysis import cross_hemisphere, hemisphere_pairs
from neurodiff.models.benediff.results import RegionLVMs
from neurodiff.models.benediff.settings import CrossHemisphereSettings
from neurodiff.plots.benediff import plot_fig5_cross_hemisphere
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    params = snakemake.params
    section = CrossHemisphereSettings.from_config(params.section)
    ds = read_tidy(snakemake.input.data, load_video=False)
    fits = dict(zip(params.latent_keys, snakemake.input.latents, strict=True))
    results = {}
    for session in params.sessions:
        loaded = {region: RegionLVMs.load(fits[(session, region)]) for region in params.regions}
        pairs = hemisphere_pairs(params.regions)
        seeds = range(len(next(iter(loaded.values())).seeds))
        results[session] = [
            [
                cross_hemisphere(
                    loaded[left],
                    loaded[right],
                    name,
                    section.labels,
                    section.cca_components,
                    i,
                )
                for name, left, right in pairs
            ]
            for i in seeds
        ]
        for r in results[session][0]:
            log.info(
                "%s %s: affine R² %.3f, canonical correlations %s",
                session,
                r.region,
                r.affine_r2,
                r.canonical_correlations.round(3),
            )
    fig = plot_fig5_cross_hemisphere(
        results, params.session, ds.bin_size_s, params.preset, data_label=dataset_label(ds)
    )
    save_figure(fig, Path(snakemake.output.png).with_suffix(""))
