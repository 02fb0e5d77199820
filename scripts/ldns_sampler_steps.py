"""Rule ldns_sampler_steps: DDIM at several step counts against DDPM over all steps, timed."""

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns import sampler_study as study
from neurodiff.models.ldns.fit import diffusion_schedule, load_sampling_models
from neurodiff.models.ldns.generate import EncodedData
from neurodiff.models.ldns.settings import (
    DenoiserSettings,
    SamplerStudySettings,
    SamplingSettings,
    from_mapping,
)
from neurodiff.plots.style import dataset_title, is_simulated
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table
from neurodiff.train import select_device

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    name, p = snakemake.wildcards.model, snakemake.params
    settings = from_mapping(DenoiserSettings, p.cfg, f"ldns.denoiser.{name}")
    cfg = from_mapping(SamplerStudySettings, p.study, "ldns.sampler_study")
    sampling = from_mapping(SamplingSettings, p.sampling, "ldns.sampling")
    ds = read_tidy(snakemake.input.data)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    device = select_device(snakemake.params.device)
    denoiser, autoencoder = load_sampling_models(
        snakemake.input.denoiser,
        snakemake.input.autoencoder,
        settings,
        encoded.latents.shape[1],
        device,
    )
    schedule = diffusion_schedule(p.diffusion)
    configs = study.study_configs(cfg.reference_ddpm_steps, cfg.ddim_steps)
    samples = study.draw_timed(
        denoiser, autoencoder, encoded, schedule, configs, cfg.n_samples, sampling.batch_size,
        p.seed, log.info,
    )  # fmt: skip
    table = study.score(samples, ds, cfg.n_bootstrap, p.evaluation["seed"])
    metrics = study.study_metrics(ds.name)
    best = study.recommended_ddim_steps(table)
    data_title = dataset_title(settings.dataset, is_simulated(ds))
    write_table(
        snakemake.output.csv,
        table,
        study.display(table, metrics),
        title=f"DDIM steps vs {configs[0].label}: {data_title} ({name}), {p.preset} preset",
        caption=study.caption(configs[0].label, cfg.n_samples, cfg.n_bootstrap, best, device),
        md_path=snakemake.output.md,
    )
    log.info("smallest matching DDIM step count: %s\n%s", best, table.to_string(index=False))
