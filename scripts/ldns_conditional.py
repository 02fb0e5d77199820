"""Rule ldns_conditional: velocity decoding R² (ridge on AE rates) and Fig. 5 (conditional LDNS)."""

from pathlib import Path

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.metrics.decoding import predict_velocity
from neurodiff.models.ldns.evaluation import velocity_decoding_table
from neurodiff.models.ldns.generate import EncodedData, hand_velocity, reach_angle
from neurodiff.models.ldns.settings import BehaviorSettings, from_mapping
from neurodiff.plots.ldns import plot_fig5_conditional
from neurodiff.plots.style import dataset_label, save_figure
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table

TITLE = "Hand-velocity decoding (LDNS §4), {preset} preset"
CAPTION = (
    "Ridge regression (α = {alpha:g}) from autoencoder rates to hand velocity, one linear map "
    "for all time bins, fitted on the training trials. R² on each split's AE rates, and on "
    "velocity-conditioned LDNS samples against the held-out velocity they were conditioned on. "
    "endpoint_circ_r: circular correlation between the reach angle (the velocity's direction at "
    "the onset bin, what the angle model is conditioned on) and the end-point angle of the path "
    "decoded from the rates; 'true hand paths' is the data's own value."
)

with snakemake_job(snakemake) as log:
    behavior = from_mapping(BehaviorSettings, snakemake.params.behavior, "ldns.behavior")
    ds = read_tidy(snakemake.input.data)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    angle = read_npz(snakemake.input.angle, ("angle", "ddpm_rates"))
    conditioned = read_npz(
        snakemake.input.velocity, ("velocity", "condition_trial", "ddpm_rates", "ddpm_latents")
    )
    velocity_ct = hand_velocity(ds, behavior)  # (trials, 2, time)
    velocity = velocity_ct.transpose(0, 2, 1)
    target = conditioned["velocity"].transpose(0, 2, 1)
    table, decoder = velocity_decoding_table(
        encoded.rates,
        velocity,
        encoded.split,
        behavior.ridge_alpha,
        {"velocity-conditioned LDNS samples": (conditioned["ddpm_rates"], target)},
        angle=(ds.bin_size_s, behavior.onset_bin),
        angle_samples={"angle-conditioned LDNS samples": (angle["ddpm_rates"], angle["angle"])},
    )
    write_table(
        snakemake.output.csv,
        table,
        table.round({"r2": 4, "endpoint_circ_r": 3}),
        title=TITLE.format(preset=snakemake.params.preset),
        caption=CAPTION.format(alpha=behavior.ridge_alpha),
        md_path=snakemake.output.md,
    )
    log.info("\n%s", table.to_string(index=False))
    train = encoded.split == "train"
    fig = plot_fig5_conditional(
        angle=angle["angle"],
        angle_decoded=predict_velocity(decoder, angle["ddpm_rates"]),
        data_velocity=velocity[train],
        data_angle=reach_angle(velocity_ct, behavior.onset_bin)[train],
        condition_velocity=target,
        condition_decoded=predict_velocity(decoder, conditioned["ddpm_rates"]),
        condition_trial=conditioned["condition_trial"],
        ae_latents=encoded.latents,
        sample_latents=conditioned["ddpm_latents"],
        ae_rates=encoded.rates,
        sample_rates=conditioned["ddpm_rates"],
        decoding=table,
        bin_s=ds.bin_size_s,
        preset=snakemake.params.preset,
        data_label=dataset_label(ds),
    )
    log.info("wrote %s", save_figure(fig, Path(snakemake.output.png).with_suffix("")))
