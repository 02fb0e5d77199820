"""Tests for neurodiff.data.fetch: staging, sha256 pins, offline errors, safe extraction."""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from neurodiff.data import fetch
from neurodiff.data.fetch import (
    ChecksumMismatchError,
    DataUnavailableError,
    UnpinnedChecksumWarning,
    UnpinnedStagedFileError,
    UnsafeArchiveError,
    extract_archive,
    fetch_dandi_asset,
    fetch_url,
    verify_sha256,
)
from neurodiff.io import sha256_file

CONTENT = b"neurodiff staged test payload\n" * 100
CONTENT_SHA = hashlib.sha256(CONTENT).hexdigest()
WRONG_SHA = "0" * 64
ASSET = "sub-Jenkins/sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb"
ASSET_NAME = "sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb"
FIGSHARE_URL = "https://ndownloader.figshare.com/files/26476925"
DRYAD_URL = "https://datadryad.org/stash/downloads/file_stream/2547369"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything opens a socket connection."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network touched: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)  # what requests/urllib3 call


def stage(staged_dir: Path, name: str, content: bytes = CONTENT) -> Path:
    staged_dir.mkdir(parents=True, exist_ok=True)
    path = staged_dir / name
    path.write_bytes(content)
    return path


def test_staged_with_correct_pin_is_used(tmp_path: Path, no_network: None) -> None:
    staged = stage(tmp_path / "staged", "data.zip")
    dest = tmp_path / "raw" / "data.zip"
    record = fetch_url(FIGSHARE_URL, dest, staged_dir=tmp_path / "staged", sha256=CONTENT_SHA)
    assert dest.read_bytes() == CONTENT
    assert record.obtained == "staged"
    assert record.sha256 == CONTENT_SHA
    assert record.path == str(dest)
    assert record.source_url == FIGSHARE_URL
    assert staged.read_bytes() == CONTENT
    assert dest.stat().st_ino != staged.stat().st_ino  # a copy, never a hard link
    assert sorted(p.name for p in dest.parent.iterdir()) == ["data.zip"]


def test_staged_dandi_asset_uses_basename_and_api_url(tmp_path: Path, no_network: None) -> None:
    stage(tmp_path / "staged", ASSET_NAME)
    dest = tmp_path / "raw" / "000128" / ASSET_NAME
    record = fetch_dandi_asset(
        "000128", "0.220113.0400", ASSET, dest, staged_dir=tmp_path / "staged", sha256=CONTENT_SHA
    )
    assert dest.read_bytes() == CONTENT
    assert record.as_dict() == {
        "name": ASSET_NAME,
        "path": str(dest),
        "sha256": CONTENT_SHA,
        "source_url": "https://api.dandiarchive.org/api/dandisets/000128/versions/0.220113.0400"
        "/assets/?path=sub-Jenkins/sub-Jenkins_ses-full_desc-train_behavior%2Becephys.nwb",
        "obtained": "staged",
    }


def test_read_only_staged_file_is_copied(tmp_path: Path, no_network: None) -> None:
    staged = stage(tmp_path / "staged", "f.bin")
    staged.chmod(0o444)
    dest = tmp_path / "raw" / "f.bin"
    fetch_url(DRYAD_URL, dest, staged_dir=tmp_path / "staged", sha256=CONTENT_SHA)
    assert dest.read_bytes() == CONTENT
    assert dest.stat().st_ino != staged.stat().st_ino


def test_editing_staged_file_after_fetch_leaves_raw_copy_unchanged(
    tmp_path: Path, no_network: None
) -> None:
    """A staged file edited in place after a verified fetch must not change resources/raw/."""
    staged = stage(tmp_path / "staged", "mc_maze.nwb")
    dest = tmp_path / "raw" / "mc_maze.nwb"
    fetch_url(DRYAD_URL, dest, staged_dir=tmp_path / "staged", sha256=CONTENT_SHA)
    with open(staged, "r+b") as fh:  # flip one byte in place, as an editor or a bad disk would
        fh.seek(7)
        byte = fh.read(1)
        fh.seek(7)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert staged.read_bytes() != CONTENT
    assert dest.read_bytes() == CONTENT
    assert sha256_file(dest) == CONTENT_SHA


def test_staged_with_wrong_pin_raises_and_leaves_no_destination(
    tmp_path: Path, no_network: None
) -> None:
    stage(tmp_path / "staged", "competitionData.tar.gz")
    dest = tmp_path / "raw" / "competitionData.tar.gz"
    with pytest.raises(ChecksumMismatchError) as info:
        fetch_url(DRYAD_URL, dest, staged_dir=tmp_path / "staged", sha256=WRONG_SHA)
    message = str(info.value)
    assert "competitionData.tar.gz" in message
    assert WRONG_SHA in message and CONTENT_SHA in message
    assert (info.value.expected, info.value.actual) == (WRONG_SHA, CONTENT_SHA)
    assert not dest.exists()
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


def test_staged_file_without_pin_is_refused_by_default(tmp_path: Path, no_network: None) -> None:
    """Issue 17 item 2: nothing to check a hand-placed copy against, so it is not used."""
    staged = stage(tmp_path / "staged", "sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb")
    dest = tmp_path / "raw" / staged.name
    with pytest.raises(UnpinnedStagedFileError) as info:
        fetch_dandi_asset(
            "000128",
            "0.220113.0400",
            ASSET,
            dest,
            staged_dir=staged.parent,
            pin_key="data.mc_maze.sha256",
        )
    message = str(info.value)
    for needle in (
        str(staged.resolve()),
        CONTENT_SHA,
        "data.mc_maze.sha256",
        "dandi:sha2-256",
        "api.dandiarchive.org",
        "--config accept_unpinned=True",
    ):
        assert needle in message
    assert not dest.exists() and not dest.parent.exists()
    stage(staged.parent, "musall.zip")
    with pytest.raises(UnpinnedStagedFileError, match="musall.zip"):
        fetch_url(FIGSHARE_URL, tmp_path / "raw" / "musall.zip", staged_dir=staged.parent)
    assert not (tmp_path / "raw").exists()


def test_null_pin_is_accepted_with_warning_and_digest(tmp_path: Path, no_network: None) -> None:
    stage(tmp_path / "staged", "musall.zip")
    dest = tmp_path / "raw" / "musall.zip"
    with pytest.warns(UnpinnedChecksumWarning, match=CONTENT_SHA):
        record = fetch_url(
            FIGSHARE_URL, dest, staged_dir=tmp_path / "staged", sha256=None, accept_unpinned=True
        )
    assert record.sha256 == CONTENT_SHA
    assert record.obtained == "staged"
    assert dest.read_bytes() == CONTENT


def test_unpinned_warning_reaches_the_console_from_inside_a_job(tmp_path: Path) -> None:
    """Inside a job (stdout/stderr redirected to its log) the warning still reaches the console."""
    path = stage(tmp_path, "mc_maze.nwb")
    log = tmp_path / "logs" / "download.log"
    code = (
        "import sys\n"
        "from neurodiff.data.fetch import verify_sha256\n"
        "from neurodiff.runlog import logged_job\n"
        f"with logged_job({str(log)!r}, 'download_dandi'):\n"
        f"    verify_sha256({str(path)!r}, None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "mc_maze.nwb" in result.stderr and CONTENT_SHA in result.stderr
    assert "without a pinned sha256" in result.stderr
    assert CONTENT_SHA in log.read_text()


def test_verify_sha256_returns_digest_and_rejects_mismatch(tmp_path: Path) -> None:
    path = stage(tmp_path, "x.bin", b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert verify_sha256(path, expected) == expected
    with pytest.raises(ChecksumMismatchError, match="x.bin"):
        verify_sha256(path, WRONG_SHA)


def test_malformed_pin_and_unpinned_version_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not 64 lowercase hex"):
        fetch_url(FIGSHARE_URL, tmp_path / "a.zip", staged_dir=tmp_path, sha256="abc")
    with pytest.raises(ValueError, match="not pinned"):
        fetch_dandi_asset("000128", "draft", ASSET, tmp_path / "a.nwb", staged_dir=tmp_path)


def skip_if_reachable(url: str) -> None:
    if fetch._unreachable_reason(url) is None:
        pytest.skip(f"{url} is reachable from here; the offline error path cannot be tested")


def test_dandi_offline_fails_fast_with_staging_instructions(tmp_path: Path) -> None:
    skip_if_reachable("https://api.dandiarchive.org/api")
    staged_dir = tmp_path / "staged"
    dest = tmp_path / "raw" / ASSET_NAME
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        fetch_dandi_asset("000128", "0.220113.0400", ASSET, dest, staged_dir=staged_dir)
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert ASSET_NAME in message
    assert "https://api.dandiarchive.org/api/dandisets/000128/versions/0.220113.0400" in message
    assert f"dandi://DANDI/000128@0.220113.0400/{ASSET}" in message
    assert str(staged_dir.resolve() / ASSET_NAME) in message
    assert not dest.exists()


@pytest.mark.parametrize("url", [FIGSHARE_URL, DRYAD_URL])
def test_url_offline_fails_fast_with_staging_instructions(tmp_path: Path, url: str) -> None:
    skip_if_reachable(url)
    staged_dir = tmp_path / "staged"
    dest = tmp_path / "raw" / "source.bin"
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        fetch_url(url, dest, staged_dir=staged_dir, sha256=CONTENT_SHA)
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert "source.bin" in message and url in message
    assert str(staged_dir.resolve() / "source.bin") in message
    assert not dest.exists()


@pytest.mark.parametrize("pin", [CONTENT_SHA, None])
def test_dandi_client_failure_is_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pin: str | None
) -> None:
    """Past the reachability probe, the dandi client's connection error names the stage path."""
    skip_if_reachable("https://api.dandiarchive.org/api")
    import dandi.dandiapi

    monkeypatch.setattr(dandi.dandiapi, "REQUEST_RETRIES", 1)
    monkeypatch.setattr(fetch, "_unreachable_reason", lambda url: None)
    dest = tmp_path / "raw" / ASSET_NAME
    with pytest.raises(DataUnavailableError, match="could not be downloaded") as info:
        fetch_dandi_asset(
            "000128", "0.220113.0400", ASSET, dest, staged_dir=tmp_path / "s", sha256=pin
        )
    assert str((tmp_path / "s").resolve() / ASSET_NAME) in str(info.value)
    assert not dest.exists()


def test_pooch_failure_is_wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the reachability probe, pooch's connection error names the URL and stage path."""
    skip_if_reachable(FIGSHARE_URL)
    monkeypatch.setattr(fetch, "_unreachable_reason", lambda url: None)
    dest = tmp_path / "raw" / "musall.zip"
    with pytest.raises(DataUnavailableError, match="could not be downloaded") as info:
        fetch_url(FIGSHARE_URL, dest, staged_dir=tmp_path / "s")
    assert FIGSHARE_URL in str(info.value)
    assert str((tmp_path / "s").resolve() / "musall.zip") in str(info.value)
    assert not dest.exists()


class RefusingProxy:
    """A local HTTP proxy on 127.0.0.1 that accepts connections and answers CONNECT with 403."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
                conn.sendall(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def refusing_proxy(monkeypatch: pytest.MonkeyPatch):
    """Route https through a local proxy that refuses every tunnel."""
    proxy = RefusingProxy()
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    yield proxy
    proxy.close()


def test_probe_detects_proxy_that_refuses_the_tunnel(refusing_proxy: RefusingProxy) -> None:
    start = time.monotonic()
    reason = fetch._unreachable_reason("https://api.dandiarchive.org/api/info/")
    assert time.monotonic() - start < 10
    assert reason is not None and "403" in reason
    assert any(r.startswith("CONNECT api.dandiarchive.org:443") for r in refusing_proxy.requests)


def test_dandi_fetch_behind_refusing_proxy_fails_in_seconds(
    tmp_path: Path, refusing_proxy: RefusingProxy
) -> None:
    staged_dir = tmp_path / "staged"
    dest = tmp_path / "raw" / ASSET_NAME
    start = time.monotonic()
    with pytest.raises(DataUnavailableError, match="403") as info:
        fetch_dandi_asset("000128", "0.220113.0400", ASSET, dest, staged_dir=staged_dir)
    assert time.monotonic() - start < 10
    assert str(staged_dir.resolve() / ASSET_NAME) in str(info.value)
    assert not dest.exists()


def test_finished_download_is_verified_then_moved(tmp_path: Path) -> None:
    dest = tmp_path / "raw" / "f.bin"
    partial = fetch._partial_dir(dest)
    stage(partial, "f.bin")
    record = fetch._install_download(partial / "f.bin", dest, "f.bin", CONTENT_SHA, None, "u")
    assert (record.obtained, record.sha256, dest.read_bytes()) == (
        "downloaded",
        CONTENT_SHA,
        CONTENT,
    )
    assert not partial.exists()


@pytest.mark.parametrize("pin, archive_digest", [(WRONG_SHA, None), (None, WRONG_SHA)])
def test_corrupt_download_is_deleted_and_not_installed(
    tmp_path: Path, pin: str | None, archive_digest: str | None
) -> None:
    dest = tmp_path / "raw" / "f.bin"
    partial = fetch._partial_dir(dest)
    stage(partial, "f.bin")
    with pytest.warns(UnpinnedChecksumWarning) if pin is None else contextlib.nullcontext():
        with pytest.raises(ChecksumMismatchError, match=WRONG_SHA):
            fetch._install_download(partial / "f.bin", dest, "f.bin", pin, archive_digest, "u")
    assert not dest.exists()
    assert not (partial / "f.bin").exists()


FILES = {"top.txt": b"top", "d/inner.txt": b"inner", "d/e/deep.bin": b"\x00\x01deep"}


def build_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def build_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("builder, suffix", [(build_zip, ".zip"), (build_tar_gz, ".tar.gz")])
def test_extract_archive_all_and_selected(tmp_path: Path, builder, suffix: str) -> None:
    archive = builder(tmp_path / f"a{suffix}", FILES)
    out = tmp_path / "out"
    paths = extract_archive(archive, out)
    assert paths == sorted(out / name for name in FILES)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in paths} == FILES
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    subset = extract_archive(archive, tmp_path / "subset", members=["d"])
    assert subset == [tmp_path / "subset/d/e/deep.bin", tmp_path / "subset/d/inner.txt"]
    assert not (tmp_path / "subset/top.txt").exists()
    with pytest.raises(LookupError, match="missing.txt"):
        extract_archive(archive, tmp_path / "none", members=["missing.txt"])


@pytest.mark.parametrize("builder, suffix", [(build_zip, ".zip"), (build_tar_gz, ".tar.gz")])
@pytest.mark.parametrize("evil", ["../evil.txt", "d/../../evil.txt", "/tmp/evil_abs.txt"])
def test_extract_archive_rejects_path_traversal(
    tmp_path: Path, builder, suffix: str, evil: str
) -> None:
    archive = builder(tmp_path / f"a{suffix}", {"ok.txt": b"ok", evil: b"evil"})
    out = tmp_path / "work" / "out"
    with pytest.raises(UnsafeArchiveError, match="evil"):
        extract_archive(archive, out)
    assert not out.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work/evil.txt").exists()
    assert list((tmp_path / "work").iterdir()) == []


def test_extract_archive_rejects_tar_symlink(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_archive_refuses_non_empty_destination(tmp_path: Path) -> None:
    archive = build_zip(tmp_path / "a.zip", FILES)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty"):
        extract_archive(archive, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
