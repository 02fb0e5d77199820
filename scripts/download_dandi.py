"""Rule download_dandi (local): one pinned DANDI asset, staged or downloaded, sha256-checked."""

from neurodiff.data.fetch import fetch_dandi_asset
from neurodiff.io import write_json_atomic
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    record = fetch_dandi_asset(
        cfg["dandiset"],
        cfg["version"],
        cfg["asset_path"],
        snakemake.output.nwb,
        staged_dir=snakemake.params.staged_dir,
        sha256=cfg["sha256"],
        accept_unpinned=snakemake.params.accept_unpinned,
        pin_key=snakemake.params.pin_key,
    )
    write_json_atomic(snakemake.output.record, record.as_dict())
    log.info("%s %s (sha256 %s)", record.obtained, record.path, record.sha256)
