"""Rule ldns_figures_lorenz: Fig. 2 (LDNS on Lorenz) and Supp. A5, A6 (LFADS on Lorenz)."""

from pathlib import Path

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.generate import EncodedData
from neurodiff.models.ldns.settings import EvaluationSettings, from_mapping
from neurodiff.plots import ldns as plots
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    preset = snakemake.params.preset
    evaluation = from_mapping(EvaluationSettings, snakemake.params.evaluation, "ldns.evaluation")
    ds = read_tidy(snakemake.input.data)
    if "latents" not in ds.truth:
        raise KeyError(f"{snakemake.input.data}: figure A5 needs truth/latents")
    train = ds.indices("train")
    label = dataset_label(ds)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    samples = read_npz(snakemake.input.samples, ("ddpm_spikes", "ddpm_latents", "long_latents"))
    lfads = read_npz(
        snakemake.input.lfads, ("posterior_factors", "posterior_trials", "factors", "long_factors")
    )
    figures = {
        "fig2_lorenz": lambda: plots.plot_fig2_lorenz(
            ds.signals[train],
            encoded.rates[train],
            encoded.latents[train],
            samples["ddpm_spikes"],
            samples["ddpm_latents"],
            samples["long_latents"],
            evaluation.max_lag,
            evaluation.n_groups,
            preset,
            data_label=label,
        ),
        "figA5_lfads_lorenz_factors": lambda: plots.plot_figA5_lfads_lorenz_factors(
            ds.truth["latents"][lfads["posterior_trials"]],
            lfads["posterior_factors"],
            preset,
            data_label=label,
        ),
        "figA6_lfads_length_generalisation": lambda: plots.plot_figA6_lfads_length_generalisation(
            lfads["factors"], lfads["long_factors"], preset, data_label=label
        ),
    }
    for png in snakemake.output.png:
        stem = Path(png).with_suffix("")
        log.info("wrote %s", save_figure(figures[stem.name](), stem))
