"""Source provenance stored in every tidy file: which files, their sha256 and where they came from.

A download rule records the sha256 it verified beside each file it places: `<file>.source.json`
(a FetchRecord) for a single file, and `extracted.sha256.json` inside a directory unpacked from a
verified archive. `source_meta` re-hashes the inputs of a prepare rule and refuses any file whose
digest differs from the recorded one, so a raw file edited or corrupted after it was verified is
never read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurodiff.data.fetch import RECORD_SUFFIX, ChecksumMismatchError
from neurodiff.io import sha256_file


class MissingRecordError(FileNotFoundError):
    """A fetched input has no recorded sha256 (no record, or not in the extraction manifest)."""


def record_path(path: str | os.PathLike) -> Path:
    """The `<file>.source.json` record a download rule writes beside a fetched file."""
    return Path(f"{path}{RECORD_SUFFIX}")


def source_meta(
    paths: Iterable[str | os.PathLike],
    source: str,
    manifest: str | os.PathLike | None = None,
    require_record: bool = False,
) -> dict[str, Any]:
    """Return {source, source_files: {name: sha256}, source_records: [...]} for input files.

    Each file's sha256 is compared with the digest recorded when it was fetched: its
    `<file>.source.json`, or its entry in `manifest` (an `extracted.sha256.json`, used when that
    file exists). A difference raises ChecksumMismatchError naming the file and both digests; with
    `require_record` a file with no recorded digest raises MissingRecordError. A `.source.json`
    record is included in `source_records`.
    """
    manifest_path = None if manifest is None else Path(manifest)
    entries = _manifest_entries(manifest_path) if manifest_path and manifest_path.exists() else None
    files: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    for path in map(Path, paths):
        digest = sha256_file(path)
        files[path.name] = digest
        record = record_path(path)
        if record.exists():
            content = _read_json(record)
            records.append(content)
            _check_recorded(path, digest, content.get("sha256"), record, f"{path} and {record}")
        elif entries is not None and manifest_path is not None:
            relative = _relative_to(path, manifest_path.parent)
            if relative not in entries:
                raise MissingRecordError(
                    f"{path}: not among the files unpacked from the verified archive (no entry "
                    f"in {manifest_path}); remove it, or delete {manifest_path.parent} and rerun."
                )
            _check_recorded(
                path, digest, entries[relative], manifest_path, str(manifest_path.parent)
            )
        elif require_record:
            missing, remove = (
                (record, path) if manifest_path is None else (manifest_path, manifest_path.parent)
            )
            raise MissingRecordError(
                f"{path}: no recorded sha256 to check it against ({missing} does not exist); "
                f"delete {remove} and rerun so the download rule fetches, verifies and records it."
            )
    return {"source": source, "source_files": files, "source_records": records}


def _check_recorded(path: Path, digest: str, expected: object, where: Path, remove: str) -> None:
    """Raise ChecksumMismatchError if `digest` differs from the digest recorded in `where`."""
    if not isinstance(expected, str) or not expected:
        raise MissingRecordError(f"{where}: holds no sha256 for {path}")
    if digest != expected:
        raise ChecksumMismatchError(
            path.name,
            path,
            expected,
            digest,
            f"The file changed after it was fetched and verified (digest recorded in {where}). "
            f"Restore it, or delete {remove} and rerun so it is fetched again.",
        )


def _manifest_entries(path: Path) -> dict[str, str]:
    """{relative path: sha256} of an extraction manifest."""
    entries = _read_json(path).get("files")
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: extraction manifest must hold a 'files' mapping")
    return {str(k): str(v) for k, v in entries.items()}


def _relative_to(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable record ({err})") from err
    if not isinstance(content, dict):
        raise ValueError(f"{path}: record must hold a JSON object")
    return content
