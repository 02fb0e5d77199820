"""Rule prepare_human: Willett competitionData .mat files -> tidy dataset file."""

from pathlib import Path

from neurodiff.data.provenance import source_meta
from neurodiff.data.willett import list_competition_files, read_willett_mat
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    root = Path(snakemake.input[0])
    if (root / "competitionData").is_dir():  # the Dryad archive unpacks into competitionData/
        root = root / "competitionData"
    files = list_competition_files(root)
    ds = read_willett_mat(files, n_channels=cfg["n_channels"], max_bins=cfg["max_bins"],
                          name="human")
    ds.meta.update(preset=snakemake.params.preset,
                   **source_meta(files["train"] + files["test"], cfg["source"]))
    ds.write(snakemake.output[0])
    log.info("human: %d trials (max %d bins, %d channels)", ds.n_trials, ds.n_bins,
             ds.n_channels)
