"""File input and output: atomic writes (a failed or killed job never leaves a half-written
result behind), and the .npz array files that rules hand to each other.

A temporary file is named `.<target>.tmp-<host>-<pid>-<random><suffix>`: the next write of the
same target removes the temporaries of its earlier writers that died on this host (SIGKILL,
out-of-memory kill), and those older than `STALE_TEMP_SECONDS` from other hosts. A write that
fails (disk full, quota, I/O error) raises `WriteError` naming the target and the cause, with
the temporary removed and the previous file intact.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

STALE_TEMP_SECONDS = 24 * 3600
LOW_SPACE_BYTES = 1 << 20
# what tempfile.mkstemp appends to the prefix: 8 characters of this alphabet
_MKSTEMP_RANDOM = "[a-z0-9_]{8}"
_CAUSES = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


class WriteError(OSError):
    """Writing a file failed; the message names the target and the cause (e.g. disk full)."""

    def __init__(self, target: Path, cause: str, code: int | None = None) -> None:
        super().__init__(code, cause, str(target))
        self.target, self.cause = target, cause

    def __str__(self) -> str:
        return f"cannot write {self.target}: {self.cause}"


class RuntimeWriteError(WriteError, RuntimeError):
    """A WriteError from a RuntimeError raised while writing; still caught as RuntimeError."""


def _host_tag() -> str:
    """This machine's short host name, reduced to letters and digits (part of temp names)."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0])[:32] or "host"


def _temp_pattern(target: Path, suffix: str) -> re.Pattern[str]:
    """Names of this module's temporaries of `target`: (host, pid) groups, or legacy mkstemp."""
    name, tail = re.escape(target.name), re.escape(suffix)
    return re.compile(
        rf"^\.{name}\.(?:tmp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-)?"
        rf"{_MKSTEMP_RANDOM}{tail}$"
    )


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def temp_is_stale(path: Path, host: str | None, pid: str | None) -> bool:
    """Whether a temporary of this module was left by a writer that is gone.

    Legacy names (no host/pid, written before pids were recorded) are always stale; on this
    host a temporary is stale when its pid is dead; from another host when it is older than
    `STALE_TEMP_SECONDS` (a pid there cannot be checked).
    """
    if host is None or pid is None:
        return True
    if host == _host_tag():
        return int(pid) != os.getpid() and not pid_alive(int(pid))
    try:
        return time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS
    except FileNotFoundError:
        return False


def is_live_temporary(path: str | os.PathLike) -> bool:
    """Whether `path` is a temporary of `atomic_path` whose writer may still be running."""
    path = Path(path)
    match = re.search(rf"\.tmp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-{_MKSTEMP_RANDOM}", path.name)
    return bool(match) and not temp_is_stale(path, match["host"], match["pid"])


def remove_stale_temporaries(path: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Delete the temporaries of `path` whose writer died (see `temp_is_stale`); return them."""
    target = Path(path)
    pattern = _temp_pattern(target, suffix if suffix is not None else target.suffix)
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in target.parent.iterdir():
            match = pattern.match(entry.name)
            if match and temp_is_stale(entry, match["host"], match["pid"]):
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _free_bytes(directory: Path) -> int | None:
    """Bytes available in the file system holding `directory` (None if it cannot be read)."""
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def _errno_of(err: BaseException) -> int | None:
    """The errno of a write failure: of the error or what it chains to, else read from its
    text (h5py reports "errno = 28, error message = 'No space left on device'")."""
    seen: BaseException | None = err
    while seen is not None:
        if getattr(seen, "errno", None) in _CAUSES:
            return seen.errno
        text = str(seen).lower()
        for code, cause in _CAUSES.items():
            if cause in text:
                return code
        seen = seen.__cause__ or seen.__context__
    return getattr(err, "errno", None)


def _write_error(target: Path, err: BaseException) -> WriteError:
    """A WriteError for a failed write of `target`, naming the cause.

    The errno (or the message) of the error says it; a RuntimeError without either (torch.save
    drops the errno) is taken for a full disk when less than `LOW_SPACE_BYTES` are left beside
    the target. A RuntimeError stays one (RuntimeWriteError).
    """
    code = _errno_of(err)
    kind = RuntimeWriteError if isinstance(err, RuntimeError) else WriteError
    if code in _CAUSES:
        return kind(target, _CAUSES[code], code)
    if isinstance(err, RuntimeError):
        free = _free_bytes(target.parent)
        if free is not None and free < LOW_SPACE_BYTES:
            return kind(
                target,
                f"no space left on device ({free} bytes free; the writer said: {err})",
                errno.ENOSPC,
            )
    return kind(target, str(err) or type(err).__name__, code)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds.

    The temporary file keeps the target's suffix (or `suffix`) so that writers which
    dispatch on the extension (matplotlib, h5py, numpy) behave as for the final name. Stale
    temporaries of the same target are removed first; an OSError or RuntimeError while
    writing becomes a `WriteError` naming the target (and "no space left on device" when the
    disk is full), with the temporary removed and the previous file left as it was.
    """
    target = Path(path)
    tail = suffix if suffix is not None else target.suffix
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target, tail)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.tmp-{_host_tag()}-{os.getpid()}-",
            suffix=tail,
            dir=target.parent,
        )
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp makes 0600; use normal permissions
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except WriteError:
        raise
    except (OSError, RuntimeError) as err:
        raise _write_error(target, err) from err
    finally:
        if tmp_path is not None and tmp_path.exists():
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


def write_npz(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], compressed: bool = False
) -> None:
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
