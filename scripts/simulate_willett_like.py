"""Rule simulate_willett_like: Willett-like competitionData .mat files (train/ and test/)."""

from neurodiff.data.simulate.willett_like import write_willett_like
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    files = write_willett_like(
        snakemake.output[0],
        n_files=cfg["n_files"],
        trials_per_file=cfg["trials_per_file"],
        min_bins=cfg["min_bins"],
        max_bins=cfg["max_bins"],
        seed=snakemake.params.seed,
    )
    log.info("wrote %d train and %d test files", len(files["train"]), len(files["test"]))
