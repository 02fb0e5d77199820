"""Rule ldns_lorenz_statistics: Pearson r of spike statistics, Lorenz data vs LDNS samples."""

from neurodiff.data.tidy import read_tidy
from neurodiff.io import read_npz, write_json_atomic
from neurodiff.metrics.agreement import spike_statistics_pearson
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    ds = read_tidy(snakemake.input.data)
    train = ds.indices("train")
    samples = read_npz(snakemake.input.samples, ("ddpm_spikes", "ddpm_mask"))
    pearson = spike_statistics_pearson(
        ds.signals[train],
        samples["ddpm_spikes"],
        fps=1.0 / ds.bin_size_s,
        data_mask=ds.mask[train],
        model_mask=samples["ddpm_mask"],
    )
    write_json_atomic(
        snakemake.output[0],
        {
            "pearson_r": pearson,
            "data": f"{snakemake.input.data}: {len(train)} train trials",
            "model": f"{snakemake.input.samples}: {len(samples['ddpm_spikes'])} DDPM samples",
            "preset": snakemake.params.preset,
        },
    )
    log.info("Pearson r gt vs LDNS: %s", pearson)
