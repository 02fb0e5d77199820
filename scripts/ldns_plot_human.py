"""Rule ldns_fig3_human: variable-length LDNS samples of the speech BCI vs data."""

from pathlib import Path

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns.generate import EncodedData, poisson_from_rates
from neurodiff.models.ldns.settings import EvaluationSettings, from_mapping
from neurodiff.plots.ldns import plot_fig3_human
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    evaluation = from_mapping(EvaluationSettings, snakemake.params.evaluation, "ldns.evaluation")
    ds = read_tidy(snakemake.input.data)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    samples = read_npz(snakemake.input.samples, ("ddpm_spikes", "ddpm_mask"))
    train = ds.indices("train")
    mask = ds.mask[train]
    ae_spikes = poisson_from_rates(
        encoded.rates[train] * mask[..., None], torch.Generator().manual_seed(evaluation.seed)
    )
    fig = plot_fig3_human(
        ds.signals[train],
        mask,
        ae_spikes,
        samples["ddpm_spikes"],
        samples["ddpm_mask"],
        ds.bin_size_s,
        evaluation.smoothing_sigma_s["human"],
        snakemake.params.preset,
        data_label=dataset_label(ds),
    )
    log.info("wrote %s", save_figure(fig, Path(snakemake.output.png).with_suffix("")))
