"""File I/O: atomic writes and the .npz array files rules hand to each other."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurodiff import io
from neurodiff.io import atomic_path, read_npz, write_npz, write_text_atomic


def sample_arrays() -> dict[str, np.ndarray]:
    return {
        "counts": np.arange(12, dtype=np.int64).reshape(3, 4),
        "rates": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3),
        "split": np.array(["train", "val", "test"]),
        "mask": np.array([True, False]),
        "scalar": np.array(0.25),
    }


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip_keeps_values_dtypes_and_names(tmp_path, compressed):
    arrays = sample_arrays()
    write_npz(tmp_path / "a.npz", arrays, compressed=compressed)
    restored = read_npz(tmp_path / "a.npz", keys=("counts", "split"))
    assert sorted(restored) == sorted(arrays)
    for key, value in arrays.items():
        assert restored[key].dtype == value.dtype
        np.testing.assert_array_equal(restored[key], value)
    assert float(restored["scalar"]) == 0.25
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]  # no temporary left


def test_compressed_npz_is_smaller_for_repetitive_arrays(tmp_path):
    arrays = {"zeros": np.zeros((200, 200))}
    write_npz(tmp_path / "plain.npz", arrays)
    write_npz(tmp_path / "small.npz", arrays, compressed=True)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 10


def test_read_npz_names_the_file_and_the_missing_arrays(tmp_path):
    write_npz(tmp_path / "a.npz", {"x": np.zeros(2)})
    with pytest.raises(KeyError, match=r"a\.npz: missing arrays \['y', 'z'\]; found \['x'\]"):
        read_npz(tmp_path / "a.npz", keys=("x", "y", "z"))


def test_read_npz_refuses_pickled_objects(tmp_path):
    np.savez(tmp_path / "objects.npz", ragged=np.array([[1], [1, 2]], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        read_npz(tmp_path / "objects.npz")


def test_failed_npz_write_keeps_the_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "a.npz"
    write_npz(target, {"old": np.ones(3)})

    def half_written(file, **arrays):
        with open(file, "wb") as fh:
            fh.write(b"PK\x03\x04 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(io.np, "savez", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_npz(target, {"new": np.zeros(3)})
    assert list(read_npz(target)) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_atomic_path_keeps_the_suffix_and_creates_the_folder(tmp_path):
    target = tmp_path / "deep" / "er" / "table.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".csv"
        assert not target.exists()
        tmp.write_text("a,b\n")
    assert target.read_text() == "a,b\n"


# ------------------------------------------------------------------ temporaries of killed writers

KILLED_WRITER = """
import sys, time
from neurodiff.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"")  # a 0-byte temporary, as matplotlib leaves when killed early
    print(tmp.name, flush=True)
    time.sleep(600)
"""


def start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    """A child process blocked inside atomic_path(target); returns it and its temporary."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    name = proc.stdout.readline().strip()
    assert name, "the writer process printed no temporary"
    return proc, target.parent / name


def test_next_write_removes_the_temporary_of_a_writer_killed_by_sigkill(tmp_path):
    target = tmp_path / "fig4_monkey.png"
    proc, leftover = start_writer(target)
    assert leftover.exists() and leftover.name.startswith(".fig4_monkey.png.tmp-")
    assert str(proc.pid) in leftover.name
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    proc.stdout.close()
    assert leftover.exists()  # SIGKILL runs no cleanup
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig4_monkey.png"]


def test_next_write_keeps_the_temporary_of_a_live_writer(tmp_path):
    target = tmp_path / "fig.png"
    proc, live = start_writer(target)
    try:
        write_text_atomic(target, "mine")
        assert live.exists()
        assert target.read_text() == "mine"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_legacy_and_foreign_temporaries(tmp_path, monkeypatch):
    """Pre-pid names are always stale; another host's only once old; other files are kept."""
    target = tmp_path / "fig4_monkey.png"
    legacy = tmp_path / ".fig4_monkey.png._i5xd07e.png"
    foreign = tmp_path / ".fig4_monkey.png.tmp-otherhost-123-abcd_123.png"
    other_target = tmp_path / ".fig4_monkey.pdf._i5xd07e.pdf"
    for path in (legacy, foreign, other_target):
        path.write_bytes(b"")
    write_text_atomic(target, "x")
    assert not legacy.exists()
    assert foreign.exists() and other_target.exists()
    monkeypatch.setattr(io, "STALE_TEMP_SECONDS", -1.0)
    write_text_atomic(target, "y")
    assert not foreign.exists() and other_target.exists()


# ------------------------------------------------------------------ disk full


def test_disk_full_names_the_target_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch
):
    target = tmp_path / "fig4_monkey.png"
    write_text_atomic(target, "previous")

    def fill_disk(file, **arrays):
        Path(file).write_bytes(b"PK\x03\x04 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.np, "savez", fill_disk)
    with pytest.raises(io.WriteError) as info:
        write_npz(target, {"x": np.zeros(3)})
    assert str(info.value) == f"cannot write {target}: no space left on device"
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig4_monkey.png"]


def test_full_disk_during_fsync_is_named_too(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "fsync", no_space)
    with pytest.raises(OSError, match=rf"cannot write {re.escape(str(target))}: no space left"):
        write_text_atomic(target, "a,b\n")
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_keep_their_message_and_name_the_target(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"

    def broken(self, text):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(io.WriteError, match=r"cannot write .*a\.txt: \[Errno 5\] Input/output"):
        write_text_atomic(target, "x")
    assert list(tmp_path.iterdir()) == []


def test_runtime_error_while_writing_stays_a_runtime_error_naming_the_target(tmp_path, monkeypatch):
    """torch.save reports a full disk as a bare RuntimeError; little space left names it."""
    target = tmp_path / "checkpoint.pt"
    with pytest.raises(RuntimeError, match=r"cannot write .*checkpoint\.pt: boom"):
        with atomic_path(target):
            raise RuntimeError("boom")
    monkeypatch.setattr(io, "_free_bytes", lambda directory: 0)
    with pytest.raises(RuntimeError, match=r"checkpoint\.pt: no space left on device") as info:
        with atomic_path(target):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")
    assert isinstance(info.value, io.WriteError) and info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_h5py_style_message_without_errno_is_recognised_as_disk_full(tmp_path):
    target = tmp_path / "mc_maze.h5"
    with pytest.raises(io.WriteError, match=r"mc_maze\.h5: no space left on device$"):
        with atomic_path(target):
            raise OSError(
                "Can't write data (file write failed: time = Mon, errno = 28, "
                "error message = 'No space left on device')"
            )


def test_disk_full_in_a_figure_job_names_the_file_and_keeps_both_old_files(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from neurodiff.plots.style import save_figure

    stem = tmp_path / "fig4_monkey"
    fig = plt.figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    save_figure(fig, stem)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_savefig = Figure.savefig

    def full_on_pdf(self, fname, *args, **kwargs):
        if kwargs.get("format") == "pdf":
            Path(fname).write_bytes(b"%PDF-1.4 half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savefig(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", full_on_pdf)
    fig = plt.figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    with pytest.raises(OSError) as info:
        save_figure(fig, stem)
    assert str(info.value) == f"cannot write {stem}.pdf: no space left on device"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
