"""Rule ldns_length_generalisation: how far LDNS's 16× longer Lorenz samples drift, beside the
simulator's own longer trajectories, the measure's sampling noise and cut S4 kernels."""

import torch

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz
from neurodiff.models.ldns import length_generalisation as lg
from neurodiff.models.ldns.fit import diffusion_schedule, load_sampling_models
from neurodiff.models.ldns.generate import EncodedData
from neurodiff.models.ldns.settings import DenoiserSettings, SamplingSettings, from_mapping
from neurodiff.runlog import snakemake_job
from neurodiff.tables import write_table
from neurodiff.train import select_device

TITLE = "Length generalisation on the Lorenz simulation (Fig. 2), {preset} preset"
CAPTION = (
    "How far samples {factor}× longer than training drift from training-length ones: largest "
    "|range ratio − 1| (1–99 % quantiles) and largest relative L1 distance of the Welch PSDs "
    "(training-length segments) over channels, and the power at ≥ {high} cycles/bin, long over "
    "short. Rows: the simulator's own {factor}× longer trajectories against its training trials "
    "(what a perfect model drifts: each trajectory is z-scored over its own bins); LDNS's DDPM "
    "samples mapped to the simulator's coordinates by a linear readout fitted on the training "
    "trials' autoencoder latents, and in the autoencoder's latents (the ledger's numbers); long "
    "samples drawn again (one noise seed for all three) from the same trained denoiser with the "
    "operations that see the whole sequence made local to the training length: S4 kernel lags "
    "beyond it cut, instance-norm statistics over consecutive training-length windows, or both "
    "(LDNS uses neither); two halves of the training-length samples (the measure's sampling "
    "noise). "
    "kernel_mass_beyond_training: median share of the denoiser's S4 kernel mass at lags beyond "
    "the training length. Computed by this run."
)

with snakemake_job(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    p = snakemake.params
    settings = from_mapping(DenoiserSettings, p.cfg, "ldns.denoiser.lorenz_unconditional")
    sampling = from_mapping(SamplingSettings, p.sampling, "ldns.sampling")
    if settings.long_samples < 4:
        raise ValueError(
            "ldns.denoiser.lorenz_unconditional.long_samples must be >= 4 for the length "
            f"generalisation table, got {settings.long_samples}"
        )
    ds = read_tidy(snakemake.input.data)
    encoded = EncodedData.from_arrays(read_npz(snakemake.input.latents), snakemake.input.latents)
    samples = read_npz(snakemake.input.samples, ("ddpm_latents", "long_latents"))
    denoiser, _ = load_sampling_models(
        snakemake.input.denoiser,
        snakemake.input.autoencoder,
        settings,
        encoded.latents.shape[1],
        select_device(snakemake.params.device),
    )
    table = lg.length_generalisation_table(
        ds,
        encoded,
        samples["ddpm_latents"],
        samples["long_latents"],
        denoiser,
        diffusion_schedule(p.diffusion),
        sampling,
        p.seed,
    )
    write_table(
        snakemake.output.csv,
        table,
        table.round(3).astype(object).where(table.notna(), ""),
        title=TITLE.format(preset=p.preset),
        caption=CAPTION.format(factor=sampling.length_factor, high=lg.HIGH_FREQUENCY),
        md_path=snakemake.output.md,
    )
    log.info("\n%s", table.to_string(index=False))
