"""Rule download_willett (local): Willett et al. competitionData.tar.gz from Dryad, extracted.

The extracted folder holds extracted.sha256.json (the digest of every unpacked file), which
prepare_human checks before it reads them.
"""

from neurodiff.data.fetch import extract_archive, fetch_url
from neurodiff.io import write_json_atomic
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    cfg = snakemake.params.cfg
    record = fetch_url(
        cfg["url"],
        snakemake.output.archive,
        staged_dir=snakemake.params.staged_dir,
        sha256=cfg["sha256"],
        name=cfg["file"],
        accept_unpinned=snakemake.params.accept_unpinned,
        pin_key=snakemake.params.pin_key,
    )
    write_json_atomic(snakemake.output.record, record.as_dict())
    files = extract_archive(record.path, snakemake.output.extracted, manifest=True)
    log.info("%s %s; extracted %d files", record.obtained, record.path, len(files))
