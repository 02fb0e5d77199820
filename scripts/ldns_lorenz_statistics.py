"""Rule ldns_lorenz_statistics: Pearson r of spike statistics, Lorenz data vs LDNS samples, and
how far the longer-than-training samples' latents drift from the training-length samples'."""

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz, write_json_atomic
from neurodiff.metrics.agreement import latent_length_generalisation, spike_statistics_pearson
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    samples = read_npz(snakemake.input.samples, ("ddpm_spikes", "ddpm_mask", "ddpm_latents"))
    pearson = spike_statistics_pearson(
        ds.signals[train],
        samples["ddpm_spikes"],
        fps=1.0 / ds.bin_size_s,
        data_mask=ds.mask[train],
        model_mask=samples["ddpm_mask"],
    )
    long = (
        latent_length_generalisation(samples["ddpm_latents"], samples["long_latents"])
        if "long_latents" in samples
        else None
    )
    write_json_atomic(
        snakemake.output[0],
        {
            "pearson_r": pearson,
            "long_samples": long,
            "data": f"{snakemake.input.data}: {len(train)} train trials",
            "model": f"{snakemake.input.samples}: {len(samples['ddpm_spikes'])} DDPM samples",
            "preset": snakemake.params.preset,
        },
    )
    log.info("Pearson r gt vs LDNS: %s; long vs training-length latents: %s", pearson, long)
