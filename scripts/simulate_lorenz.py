"""Rule simulate_lorenz: the LDNS Lorenz spiking dataset as a tidy file."""

from neurodiff.data.simulate.lorenz import simulate_lorenz
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    ds = simulate_lorenz(
        n_trials=cfg["n_trials"],
        n_neurons=cfg["n_neurons"],
        n_bins=cfg["n_bins"],
        burn_in=cfg["burn_in"],
        mean_rate=cfg["mean_rate"],
        beta=cfg["softplus_beta"],
        split_fractions=tuple(cfg["split_fractions"]),
        seed=snakemake.params.seed,
    )
    ds.meta.update(preset=snakemake.params.preset, source="simulate", seed=snakemake.params.seed)
    ds.write(snakemake.output[0])
    log.info(
        "lorenz: %d trials x %d bins x %d neurons, mean count %.3f",
        ds.n_trials,
        ds.n_bins,
        ds.n_channels,
        float(ds.signals.mean()),
    )
