"""Fetch remote source files: staged copies first, then DANDI or a plain URL, always sha256-checked.

Every source file has a name (the file name it is stored under), a source URL, an optional
pinned sha256 and a destination. A file placed by hand at `<staged_dir>/<name>` is verified
and used without touching the network; otherwise the host is probed quickly and an
unreachable host raises `DataUnavailableError` within seconds, naming the file, its URL and
the exact staging path. Downloads land in a partial directory beside the destination and are
moved into place only after verification, so a destination is never half-written. A staged
file is copied (never hard-linked), so editing the staged file later cannot change the copy
the workflow read. The host probe is a real HTTPS request through the same proxy settings
the clients use, so a proxy that accepts connections but refuses the tunnel is detected too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote, urlsplit

from neurodiff.io import atomic_path, sha256_file

DANDI_API_HOST = "api.dandiarchive.org"
PROBE_TIMEOUT_S = 4.0
RECORD_SUFFIX = ".source.json"
EXTRACTED_MANIFEST = "extracted.sha256.json"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class DataUnavailableError(RuntimeError):
    """A source file is neither staged nor downloadable from here."""


class ChecksumMismatchError(ValueError):
    """A file's sha256 differs from the pinned (or the archive's own) digest."""

    def __init__(self, name: str, path: Path, expected: str, actual: str, advice: str) -> None:
        self.name, self.path, self.expected, self.actual = name, path, expected, actual
        super().__init__(
            f"sha256 mismatch for '{name}' ({path}): expected {expected}, got {actual}. {advice}"
        )


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction directory."""


class UnpinnedStagedFileError(ValueError):
    """A hand-placed file has no pinned sha256, so a corrupted copy could not be detected."""

    def __init__(
        self, name: str, path: Path, actual: str, where_to_compare: str, pin_key: str | None
    ) -> None:
        self.name, self.path, self.actual = name, path, actual
        key = f"config key {pin_key}" if pin_key else "the dataset's `sha256:` config key"
        super().__init__(
            f"staged file '{name}' ({path}) has no pinned sha256 ({key} is null), so a corrupted "
            f"copy could not be detected; its sha256 is {actual}. Compare it with "
            f"{where_to_compare}, then pin it ({key}: {actual}) — or accept the file unchecked "
            "with --config accept_unpinned=True. Nothing was copied."
        )


class UnpinnedChecksumWarning(UserWarning):
    """A file was accepted without a pinned sha256; its digest should be pinned."""


@dataclass(frozen=True)
class FetchRecord:
    """Provenance of one fetched file, stored in the tidy dataset metadata."""

    name: str
    path: str
    sha256: str
    source_url: str
    obtained: Literal["staged", "downloaded"]

    def as_dict(self) -> dict[str, str]:
        """Return the record as a plain dict (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class DandiAsset:
    """One asset of a pinned dandiset version, with the URLs that address it."""

    dandiset_id: str
    version: str
    path: str

    def __post_init__(self) -> None:
        if not self.version or self.version == "draft":
            raise ValueError(
                f"DANDI asset '{self.path}' of dandiset {self.dandiset_id}: version "
                f"{self.version!r} is not pinned; give a published version such as 0.220113.0400"
            )

    @property
    def name(self) -> str:
        """File name the dandi client stores the asset under (no leading folders)."""
        return PurePosixPath(self.path).name

    @property
    def human_url(self) -> str:
        """Web page of the pinned dandiset version."""
        return f"https://dandiarchive.org/dandiset/{self.dandiset_id}/{self.version}"

    @property
    def api_url(self) -> str:
        """API URL of the asset within the pinned version."""
        return (
            f"https://{DANDI_API_HOST}/api/dandisets/{self.dandiset_id}/versions/"
            f"{self.version}/assets/?path={quote(self.path)}"
        )

    @property
    def dandi_url(self) -> str:
        """Pinned `dandi://` URL accepted by `dandi download`."""
        return f"dandi://DANDI/{self.dandiset_id}@{self.version}/{self.path}"


def verify_sha256(path: str | os.PathLike, expected: str | None, name: str | None = None) -> str:
    """Return the file's sha256; raise ChecksumMismatchError if it differs from `expected`.

    With `expected=None` the file is accepted and an UnpinnedChecksumWarning reports the digest.
    """
    path = Path(path)
    name = name or path.name
    actual = sha256_file(path)
    if expected is None:
        _warn_unpinned(name, path, actual)
    elif actual != expected:
        raise ChecksumMismatchError(
            name,
            path,
            expected,
            actual,
            "The file is incomplete, corrupt or a different version: delete it and stage or "
            "download it again; if the source was deliberately replaced, update the pinned sha256.",
        )
    return actual


def _warn_unpinned(name: str, path: Path, digest: str) -> None:
    """Warn (UnpinnedChecksumWarning, also on the console) that a file was accepted unchecked."""
    message = (
        f"'{name}' ({path}) accepted without a pinned sha256, so it could not be checked; "
        f"its sha256 is {digest}. Pin this digest in the config so later runs are verified."
    )
    warnings.warn(message, UnpinnedChecksumWarning, stacklevel=3)
    _to_console(f"WARNING: {message}")


def _to_console(message: str) -> None:
    """Print on the process's real stderr when sys.stderr is redirected (a job's log file).

    Snakemake shows a job's stderr on its console, so the message is seen while the job runs;
    the job log gets it through the warning that accompanies it.
    """
    console = sys.__stderr__
    if console is not None and sys.stderr is not console:
        print(message, file=console, flush=True)


def fetch_dandi_asset(
    dandiset_id: str,
    version: str,
    asset_path: str,
    dest: str | os.PathLike,
    *,
    staged_dir: str | os.PathLike,
    sha256: str | None = None,
    accept_unpinned: bool = False,
    pin_key: str | None = None,
) -> FetchRecord:
    """Place one asset of a pinned dandiset version at `dest`: staged copy or dandi download.

    A staged file with no pinned sha256 is refused (UnpinnedStagedFileError) unless
    `accept_unpinned`; a download without a pin is checked against the archive's own digest.
    """
    import requests

    asset = DandiAsset(dandiset_id, version, asset_path)
    sha256 = _checked_pin(sha256, asset.name)
    staged = _use_staged(
        asset.name,
        staged_dir,
        sha256,
        Path(dest),
        asset.api_url,
        accept_unpinned,
        f"the archive's digest 'dandi:sha2-256' at {asset.api_url}",
        pin_key,
    )
    if staged is not None:
        return staged
    how_to_stage = (
        f"On a machine with network access run\n  dandi download -o <dir> {asset.dandi_url}\n"
        f"(dandiset page: {asset.human_url})"
    )
    staged_path = _staged_path(staged_dir, asset.name)
    _require_host(asset.name, asset.api_url, staged_path, how_to_stage)
    os.environ.setdefault("DANDI_NO_ET", "1")
    partial = _partial_dir(Path(dest))
    try:
        archive_digest = _dandi_sha256(asset) if sha256 is None else None
        _dandi_download(asset, partial)
    except requests.RequestException as err:
        raise _unavailable(asset.name, asset.api_url, staged_path, how_to_stage, err) from err
    return _install_download(
        partial / asset.name, Path(dest), asset.name, sha256, archive_digest, asset.api_url
    )


def fetch_url(
    url: str,
    dest: str | os.PathLike,
    *,
    staged_dir: str | os.PathLike,
    sha256: str | None = None,
    name: str | None = None,
    accept_unpinned: bool = False,
    pin_key: str | None = None,
) -> FetchRecord:
    """Place the file at `url` (figshare, Dryad, ...) at `dest`: staged copy or pooch download.

    A staged file with no pinned sha256 is refused (UnpinnedStagedFileError) unless
    `accept_unpinned`.
    """
    import pooch
    import requests

    dest = Path(dest)
    name = name or dest.name
    sha256 = _checked_pin(sha256, name)
    staged = _use_staged(
        name,
        staged_dir,
        sha256,
        dest,
        url,
        accept_unpinned,
        f"the digest published at {url}",
        pin_key,
    )
    if staged is not None:
        return staged
    how_to_stage = f"Download {url} on a machine with network access (e.g. in a browser)"
    staged_path = _staged_path(staged_dir, name)
    _require_host(name, url, staged_path, how_to_stage)
    partial = _partial_dir(dest)
    try:
        pooch.retrieve(url, known_hash=None, fname=name, path=partial, progressbar=False)
    except requests.RequestException as err:
        raise _unavailable(name, url, staged_path, how_to_stage, err) from err
    return _install_download(partial / name, dest, name, sha256, None, url)


def extract_archive(
    archive: str | os.PathLike,
    dest_dir: str | os.PathLike,
    members: Sequence[str] | None = None,
    *,
    manifest: bool = False,
) -> list[Path]:
    """Extract a .zip or .tar(.gz) archive into `dest_dir` atomically; return the file paths.

    `members` selects archive entries by exact name or by a directory prefix; `None` takes all.
    Entries that are absolute, contain `..`, or (in tar files) are links or devices are refused.
    With `manifest`, `dest_dir/extracted.sha256.json` records the sha256 of every extracted file
    (relative path -> digest), so later readers can check the files were not changed since.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if dest_dir.exists() and any(dest_dir.iterdir()):
        raise FileExistsError(f"Cannot extract {archive}: {dest_dir} exists and is not empty")
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", dir=dest_dir.parent))
    try:
        relative = _extract_into(archive, tmp, members)
        if manifest:
            if EXTRACTED_MANIFEST in relative:
                raise UnsafeArchiveError(
                    f"{archive}: member '{EXTRACTED_MANIFEST}' would "
                    "overwrite the extraction manifest; refused"
                )
            digests = {rel: sha256_file(tmp / rel) for rel in relative}
            (tmp / EXTRACTED_MANIFEST).write_text(
                json.dumps({"archive": archive.name, "files": digests}, indent=2, sort_keys=True)
                + "\n"
            )
        tmp.chmod(0o755)
        os.replace(tmp, dest_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [dest_dir / rel for rel in relative]


def _checked_pin(sha256: str | None, name: str) -> str | None:
    if sha256 is not None and not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"Pinned sha256 for '{name}' is not 64 lowercase hex digits: {sha256!r}")
    return sha256


def _staged_path(staged_dir: str | os.PathLike, name: str) -> Path:
    return Path(staged_dir).resolve() / name


def _use_staged(
    name: str,
    staged_dir: str | os.PathLike,
    sha256: str | None,
    dest: Path,
    url: str,
    accept_unpinned: bool,
    where_to_compare: str,
    pin_key: str | None,
) -> FetchRecord | None:
    staged = _staged_path(staged_dir, name)
    if not staged.is_file():
        return None
    if sha256 is None and not accept_unpinned:
        # Nothing to check a hand-placed copy against: refuse before anything is written.
        raise UnpinnedStagedFileError(name, staged, sha256_file(staged), where_to_compare, pin_key)
    # Copy, never hard-link: a later in-place edit of the staged file must not reach the copy.
    # The copy itself is verified, so a file changing while it is copied is caught too.
    with atomic_path(dest) as tmp:
        shutil.copyfile(staged, tmp)
        digest = sha256_file(tmp)
        if sha256 is not None and digest != sha256:
            raise ChecksumMismatchError(
                name,
                staged,
                sha256,
                digest,
                "The staged file is incomplete, corrupt or a different version: stage it "
                "again; if the source was deliberately replaced, update the pinned sha256.",
            )
        if sha256 is None:
            _warn_unpinned(name, staged, digest)
    return FetchRecord(name, str(dest), digest, url, "staged")


def _require_host(name: str, url: str, staged: Path, how_to_stage: str) -> None:
    reason = _unreachable_reason(url)
    if reason is not None:
        raise _unavailable(name, url, staged, how_to_stage, f"source unreachable: {reason}")


def _unavailable(
    name: str, url: str, staged: Path, how_to_stage: str, reason: object
) -> DataUnavailableError:
    return DataUnavailableError(
        f"'{name}' is not staged and could not be downloaded ({reason}).\n"
        f"  source: {url}\n{how_to_stage}\nand place it at\n  {staged}\nthen re-run."
    )


def _unreachable_reason(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Return why an HTTPS request to `url` gets no answer from its host, else None.

    The probe is a HEAD request made with requests, as the dandi client and pooch make theirs,
    so it goes through the same proxy (HTTPS_PROXY / NO_PROXY) and CA bundle settings: a proxy
    that accepts the connection but refuses the tunnel, a DNS, TLS or connection failure, or no
    answer within about 2 x `timeout` seconds makes the host unreachable; any HTTP status
    from the host itself (even an error) means it can be reached.
    """
    import requests

    host = urlsplit(url).hostname or url
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            with requests.Session() as session:
                session.head(url, timeout=(timeout, timeout), allow_redirects=False).close()
            outcome.append(None)
        except requests.exceptions.ProxyError as err:
            outcome.append(f"the https proxy did not open a tunnel to {host}: {err}")
        except requests.RequestException as err:
            outcome.append(f"no HTTPS answer from {host}: {err}")

    limit = 2 * timeout + 1.0
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(limit)
    return outcome[0] if outcome else f"no HTTPS answer from {host} within {limit:.0f} s"


def _partial_dir(dest: Path) -> Path:
    """Stable per-destination directory for in-progress downloads (lets the client resume)."""
    return dest.parent / f".{dest.name}.partial"


def _dandi_sha256(asset: DandiAsset) -> str | None:
    """The archive's own sha256 of the asset, or None if its metadata has none."""
    from dandi.dandiapi import DandiAPIClient
    from dandi.exceptions import NotFoundError

    with DandiAPIClient() as client:
        remote = client.get_dandiset(asset.dandiset_id, asset.version).get_asset_by_path(asset.path)
        try:
            return remote.get_raw_digest("dandi:sha2-256")
        except NotFoundError:
            return None


def _dandi_download(asset: DandiAsset, out_dir: Path) -> None:
    from dandi.download import DownloadExisting, DownloadFormat, download

    out_dir.mkdir(parents=True, exist_ok=True)
    download(
        asset.dandi_url,
        out_dir,
        existing=DownloadExisting.SKIP,
        format=DownloadFormat.DEBUG,
        get_metadata=False,
    )


def _install_download(
    downloaded: Path, dest: Path, name: str, pin: str | None, archive_digest: str | None, url: str
) -> FetchRecord:
    """Verify a finished download (against the pin and the archive's digest) and move it in."""
    try:
        digest = verify_sha256(downloaded, pin, name)
        if archive_digest is not None and digest != archive_digest:
            raise ChecksumMismatchError(
                name,
                downloaded,
                archive_digest,
                digest,
                "The download differs from the archive's own digest; run again to re-download.",
            )
    except ChecksumMismatchError:
        downloaded.unlink()
        raise
    with atomic_path(dest) as tmp:
        os.replace(downloaded, tmp)
    shutil.rmtree(downloaded.parent, ignore_errors=True)
    return FetchRecord(name, str(dest), digest, url, "downloaded")


def _extract_into(archive: Path, out_dir: Path, members: Sequence[str] | None) -> list[str]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            chosen = _select_members(archive, names, members)
            for member in chosen:
                zf.extract(member, out_dir)
        return chosen
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            entries = tf.getmembers()
            for entry in entries:
                if not (entry.isfile() or entry.isdir()):
                    raise UnsafeArchiveError(
                        f"{archive}: member '{entry.name}' is a link or special file; refused"
                    )
            files = {e.name: e for e in entries if e.isfile()}
            chosen = _select_members(archive, list(files), members)
            tf.extractall(out_dir, members=[files[m] for m in chosen], filter="data")
        return chosen
    raise ValueError(f"{archive} is neither a zip nor a tar archive")


def _select_members(archive: Path, names: list[str], wanted: Sequence[str] | None) -> list[str]:
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise UnsafeArchiveError(f"{archive}: member '{name}' would escape the target; refused")
    if wanted is None:
        return sorted(names)
    chosen: set[str] = set()
    for pattern in wanted:
        prefix = pattern.rstrip("/") + "/"
        matches = [n for n in names if n == pattern or n.startswith(prefix)]
        if not matches:
            raise LookupError(f"{archive}: no member named '{pattern}'")
        chosen.update(matches)
    return sorted(chosen)
