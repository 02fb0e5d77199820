"""Rule download_widefield (local): one widefield session HDF5 (figshare archive or staged)."""

import tempfile
from pathlib import Path

from neurodiff.data.fetch import (
    DataUnavailableError,
    FetchRecord,
    UnpinnedStagedFileError,
    extract_archive,
    fetch_url,
    verify_sha256,
)
from neurodiff.io import atomic_path, sha256_file, write_json_atomic
from neurodiff.runlog import snakemake_job

with snakemake_job(snakemake) as log:
    session = snakemake.params.session
    staged_dir = Path(snakemake.params.staged_dir)
    dest = Path(snakemake.output.hdf5)
    staged = staged_dir / session["file"]
    accept_unpinned = snakemake.params.accept_unpinned
    pin_key = f"data.widefield.sessions[id={session['id']}].sha256"
    if not staged.exists() and session.get("url") is None:
        raise DataUnavailableError(
            f"widefield session {session['id']}: '{session['file']}' has no public URL in the "
            f"config; place the BehaveNet HDF5 of this session at {staged.resolve()}"
        )
    if staged.exists() or "archive_member" not in session:
        record = fetch_url(
            session["url"] or "",
            dest,
            staged_dir=staged_dir,
            sha256=session.get("sha256"),
            name=session["file"],
            accept_unpinned=accept_unpinned,
            pin_key=pin_key,
        )
    else:  # the session file sits inside a downloaded archive
        archive = dest.with_name(Path(session["url"]).name + ".zip")
        staged_archive = staged_dir / archive.name
        if staged_archive.is_file() and session.get("sha256") is None and not accept_unpinned:
            raise UnpinnedStagedFileError(
                archive.name,
                staged_archive.resolve(),
                sha256_file(staged_archive),
                f"the digest published at {session['url']}",
                pin_key,
            )
        # the archive has no pin of its own: the member is checked against the session's pin
        archive_record = fetch_url(
            session["url"],
            archive,
            staged_dir=staged_dir,
            sha256=None,
            name=archive.name,
            accept_unpinned=True,
        )
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            members = extract_archive(archive_record.path, Path(tmp) / "x")
            matches = [m for m in members if str(m).endswith(session["archive_member"])]
            if len(matches) != 1:
                raise DataUnavailableError(
                    f"{archive}: expected one member ending in '{session['archive_member']}', "
                    f"found {len(matches)} among {[str(m) for m in members][:20]}"
                )
            with atomic_path(dest) as tmp_dest:
                Path(matches[0]).replace(tmp_dest)
        digest = verify_sha256(dest, session.get("sha256"), name=session["file"])
        record = FetchRecord(
            name=session["file"],
            path=str(dest),
            sha256=digest,
            source_url=session["url"],
            obtained=archive_record.obtained,
        )
    write_json_atomic(snakemake.output.record, record.as_dict())
    log.info("%s %s (sha256 %s)", record.obtained, record.path, record.sha256)
