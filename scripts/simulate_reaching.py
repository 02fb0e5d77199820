"""Rule simulate_reaching: synthetic reaching with known behavioural factors (for GNOCCHI)."""

from neurodiff.data.simulate.reaching import simulate_reaching
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    ds = simulate_reaching(
        n_trials=cfg["n_trials"],
        n_neurons=cfg["n_neurons"],
        n_bins=cfg["n_bins"],
        bin_size_s=cfg["bin_size_s"],
        n_angles=cfg["n_angles"],
        heldout_angles=tuple(cfg["heldout_angles"]),
        speeds=tuple(cfg["speeds"]),
        seed=snakemake.params.seed,
    )
    ds.meta.update(preset=snakemake.params.preset, source="simulate", seed=snakemake.params.seed)
    ds.write(snakemake.output[0])
    log.info("reaching: %d trials, %d unseen", ds.n_trials, int(ds.conditions["unseen"].sum()))
