"""Source provenance stored in every tidy file: which files, their sha256 and where they came from."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurodiff.io import sha256_file


def source_meta(paths: Iterable[str | os.PathLike], source: str) -> dict[str, Any]:
    """Return {source, source_files: {name: sha256}, source_records: [...]} for input files.

    A `<file>.source.json` written by a download rule (URL, staged/downloaded) is included.
    """
    files: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    for path in map(Path, paths):
        files[path.name] = sha256_file(path)
        record = Path(f"{path}.source.json")
        if record.exists():
            records.append(json.loads(record.read_text()))
    return {"source": source, "source_files": files, "source_records": records}
