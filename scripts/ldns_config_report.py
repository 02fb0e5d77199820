"""Rule ldns_config_report: Fig. 1 (schematic) and Tables 2, 3, rendered from the config used."""

from pathlib import Path

from neurodiff.data.tidy import read_tidy
from neurodiff.models.ldns.evaluation import (
    autoencoder_hparams,
    autoencoder_parameters,
    denoiser_hparams,
    denoiser_parameters,
)
from neurodiff.models.ldns.settings import LDNSSettings
from neurodiff.plots.ldns_schematic import plot_fig1_schematic
from neurodiff.plots.style import save_figure
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

TABLE2 = (
    "Autoencoder settings used by this run, per dataset (from the configuration; "
    "parameter counts of the built networks)."
)
TABLE3 = (
    "Diffusion-model settings used by this run, per model. Noise schedule: {schedule}. "
    "Denoisers are bidirectional; AdamW with linear warm-up and a cosine decay over lr "
    "horizon × the training steps, as the autoencoder."
)

with snakemake_job(snakemake) as log:
    preset = snakemake.params.preset
    settings = LDNSSettings.from_config(snakemake.params.ldns)
    channels = {
        name: read_tidy(path, load_video=False).n_channels for name, path in snakemake.input.items()
    }
    latent = {n: s.latent_channels for n, s in settings.autoencoder.items()}
    fig = plot_fig1_schematic(
        settings,
        channels,
        preset,
        autoencoder_counts=autoencoder_parameters(settings.autoencoder, channels),
        denoiser_counts=denoiser_parameters(settings.denoiser, latent),
    )
    log.info("wrote %s", save_figure(fig, Path(snakemake.output.fig1_png).with_suffix("")))
    table2 = autoencoder_hparams(settings.autoencoder, channels)
    table3 = denoiser_hparams(settings.denoiser, latent)
    diffusion = settings.diffusion
    schedule = (
        f"{diffusion.num_train_timesteps} steps, {diffusion.beta_schedule} β "
        f"{diffusion.beta_start:g} → {diffusion.beta_end:g}, ε-prediction"
    )
    write_table(
        snakemake.output.table2_csv,
        table2,
        title=f"Table 2 (LDNS), {preset} preset",
        caption=TABLE2,
        md_path=snakemake.output.table2_md,
    )
    write_table(
        snakemake.output.table3_csv,
        table3,
        title=f"Table 3 (LDNS), {preset} preset",
        caption=TABLE3.format(schedule=schedule),
        md_path=snakemake.output.table3_md,
    )
    log.info("\n%s\n%s", table2.to_string(index=False), table3.to_string(index=False))
