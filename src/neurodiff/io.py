"""File input and output: atomic writes (a failed or killed job never leaves a half-written
result behind), and the .npz array files that rules hand to each other."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds.

    The temporary file keeps the target's suffix (or `suffix`) so that writers which
    dispatch on the extension (matplotlib, h5py, numpy) behave as for the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp makes 0600; use normal permissions
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON to `path` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
              compressed: bool = False) -> None:
    """Write named arrays to an .npz file atomically (zip-compressed when `compressed`)."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp:
        save(tmp, **arrays)


def read_npz(path: str | os.PathLike, keys: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """All arrays of an .npz file; raises naming the file if one of `keys` is missing.

    Pickled objects are refused: every file the workflow writes holds plain arrays.
    """
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = sorted(set(keys) - set(arrays))
    if missing:
        raise KeyError(f"{path}: missing arrays {missing}; found {sorted(arrays)}")
    return arrays


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
