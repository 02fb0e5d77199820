"""Rule prepare_human: Willett competitionData .mat files -> tidy dataset file."""

from pathlib import Path

from neurodiff.data.fetch import EXTRACTED_MANIFEST
from neurodiff.data.provenance import source_meta
from neurodiff.data.willett import list_competition_files, read_willett_mat
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    extracted = Path(snakemake.input[0])
    root = extracted
    if (root / "competitionData").is_dir():  # the Dryad archive unpacks into competitionData/
        root = root / "competitionData"
    files = list_competition_files(root)
    # first: every file must still have the sha256 recorded when the archive was unpacked
    provenance = source_meta(
        files["train"] + files["test"],
        cfg["source"],
        manifest=extracted / EXTRACTED_MANIFEST,
        require_record=cfg["source"] != "simulate",
    )
    ds = read_willett_mat(
        files, n_channels=cfg["n_channels"], max_bins=cfg["max_bins"], name="human"
    )
    ds.meta.update(preset=snakemake.params.preset, **provenance)
    ds.write(snakemake.output[0])
    log.info("human: %d trials (max %d bins, %d channels)", ds.n_trials, ds.n_bins, ds.n_channels)
