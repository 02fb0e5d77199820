"""One run directory, one training process (issue 17, item 11): `train` holds a lock file with
its pid, host and start time; a second live process is refused, a dead owner's lock is removed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from neurodiff.train import (
    LOCK_NAME,
    RunLock,
    RunLockedError,
    RunPaths,
    TrainConfig,
    TrainResult,
    reset_stale_run,
    train,
)

HOLDER = textwrap.dedent("""
    import sys, time
    import neurodiff.train
    from neurodiff.train import RunLock
    neurodiff.train.LOCK_HEARTBEAT_SECONDS = 0.1
    lock = RunLock(sys.argv[1])
    lock.acquire()
    print("held", flush=True)
    time.sleep(600)
""")


HOST = socket.gethostname()


def tiny_fit(run_dir: Path, steps: int = 8) -> TrainResult:
    """A few SGD steps of a linear model in `run_dir`."""
    torch.manual_seed(0)
    config = TrainConfig(total_steps=steps, log_every=2, progress=False)
    return train(
        nn.Linear(2, 1),
        lambda m, b, s: (m(b).pow(2).mean(), {}),
        lambda s, g: torch.ones(3, 2),
        lambda p: torch.optim.SGD(p, lr=0.1),
        config,
        RunPaths.in_dir(run_dir),
    )


@pytest.fixture
def holder(tmp_path: Path):
    """A separate Python process holding the lock of `tmp_path / "run"` until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_lock_is_held_during_the_run_and_released_after(tmp_path):
    seen = []

    def batch_fn(step: int, generator: torch.Generator) -> torch.Tensor:
        seen.append(json.loads((tmp_path / LOCK_NAME).read_text()))
        return torch.ones(3, 2)

    config = TrainConfig(total_steps=3, progress=False)
    train(
        nn.Linear(2, 1),
        lambda m, b, s: (m(b).pow(2).mean(), {}),
        batch_fn,
        lambda p: torch.optim.SGD(p, lr=0.1),
        config,
        RunPaths.in_dir(tmp_path),
    )
    assert {(o["pid"], o["host"]) for o in seen} == {(os.getpid(), socket.gethostname())}
    assert all(o["started"] for o in seen)
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_is_released_when_training_fails(tmp_path):
    def batch_fn(step: int, generator: torch.Generator) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train(
            nn.Linear(2, 1),
            lambda m, b, s: (m(b).pow(2).mean(), {}),
            batch_fn,
            lambda p: torch.optim.SGD(p, lr=0.1),
            TrainConfig(total_steps=3, progress=False),
            RunPaths.in_dir(tmp_path),
        )
    assert not (tmp_path / LOCK_NAME).exists()


def test_live_owner_is_refused_and_killed_owner_is_stale(tmp_path, holder, caplog):
    run = tmp_path / "run"
    message = rf"{run}: another process trains into this run directory: pid {holder.pid} on host "
    with pytest.raises(RunLockedError, match=message.replace(".", r"\.")):
        tiny_fit(run)
    with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
        reset_stale_run(run, {"lr": 0.1})
    assert not (run / "checkpoint.pt").exists()
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == holder.pid

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert (run / LOCK_NAME).exists()
    with caplog.at_level("WARNING", logger="neurodiff.train"):
        result = tiny_fit(run)
    assert result.resumed_from == 0
    assert f"removed the stale training lock of pid {holder.pid} on host" in caplog.text
    assert not (run / LOCK_NAME).exists()
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.pt",
        "metrics.csv",
        "model.pt",
        "summary.json",
    ]


def test_lock_of_another_host_is_refused_while_refreshed_then_stale(
    tmp_path, holder, monkeypatch, caplog
):
    monkeypatch.setattr("neurodiff.train.STALE_LOCK_SECONDS", 1.0)
    monkeypatch.setattr("neurodiff.train.LOCK_HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(socket, "gethostname", lambda: "anothernode")  # the holder is remote
    run = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(RunLockedError, match=f"pid {holder.pid} on host {HOST}"):
        tiny_fit(run)
    assert time.monotonic() - started >= 1.0  # it waited for the lock to go stale
    os.kill(holder.pid, signal.SIGKILL)  # no more refreshes: stale after STALE_LOCK_SECONDS
    holder.wait(timeout=30)
    with caplog.at_level("WARNING", logger="neurodiff.train"):
        assert tiny_fit(run).resumed_from == 0
    assert "on another host; waiting up to" in caplog.text
    assert "removed the stale training lock" in caplog.text
    assert not (run / LOCK_NAME).exists()


def test_a_lost_lock_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr("neurodiff.train.LOCK_HEARTBEAT_SECONDS", 0.01)

    def batch_fn(step: int, generator: torch.Generator) -> torch.Tensor:
        if step == 2:
            (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 7, "host": "h", "token": "x"}))
            time.sleep(0.3)
        return torch.ones(3, 2)

    with pytest.raises(RunLockedError, match="lost its training lock; now held by pid 7 on host h"):
        train(
            nn.Linear(2, 1),
            lambda m, b, s: (m(b).pow(2).mean(), {}),
            batch_fn,
            lambda p: torch.optim.SGD(p, lr=0.1),
            TrainConfig(total_steps=5, progress=False),
            RunPaths.in_dir(tmp_path),
        )
    assert (tmp_path / LOCK_NAME).exists()  # the other owner's lock is left alone


def test_lock_is_a_context_manager(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.path.exists()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not lock.path.exists()
