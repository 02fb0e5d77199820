"""The training loop: learning, exact resume after a stop, crash or SIGKILL; atomic checkpoints."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch import nn

from neurodiff.io import WriteError
from neurodiff.models.ldns.fit import train_spike_history
from neurodiff.models.ldns.settings import SpikeHistorySettings
from neurodiff.train import (
    EMASettings,
    EpochBatches,
    RunPaths,
    TrainConfig,
    TrainResult,
    load_trained,
    reset_stale_run,
    seed_everything,
    select_device,
    train,
)

SEED = 7
TOTAL = 40
TESTS_DIR = Path(__file__).resolve().parent


class Crash(RuntimeError):
    """Raised by the batch source to simulate a job dying mid-run."""


def _regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    y = torch.tanh(x @ torch.randn(4, 2, generator=gen))
    return x, y


def run_tiny(
    run_dir: Path,
    total_steps: int,
    crash_at: int | None = None,
    step_sleep: float = 0.0,
    lr: float = 3e-2,
) -> TrainResult:
    """Train a small MLP whose loss draws on every RNG the loop must restore."""
    x, y = _regression_data()

    def batch_fn(step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if step == crash_at:
            raise Crash(f"simulated crash at step {step}")
        time.sleep(step_sleep)
        rows = torch.randint(0, len(x), (8,), generator=generator)
        return x[rows], y[rows]

    def loss_fn(model: nn.Module, batch: tuple, step: int) -> tuple[torch.Tensor, dict]:
        inputs, targets = batch
        scale = random.uniform(0.005, 0.015)
        jitter = torch.from_numpy(np.random.normal(0.0, scale, inputs.shape)).float()
        prediction = model(inputs + jitter)
        loss = nn.functional.mse_loss(prediction, targets)
        return loss, {"abs_err": (prediction - targets).abs().mean()}

    seed_everything(SEED)
    model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 2))
    config = TrainConfig(
        total_steps=total_steps,
        seed=SEED,
        checkpoint_every=5,
        log_every=3,
        grad_clip=1.0,
        ema=EMASettings(max_decay=0.9),
        progress=False,
    )
    return train(
        model,
        loss_fn,
        batch_fn,
        make_optimizer=lambda params: torch.optim.AdamW(params, lr=lr),
        make_scheduler=lambda opt: get_cosine_schedule_with_warmup(opt, 5, int(TOTAL * 1.3)),
        eval_fn=lambda m, step: {"val_mse": nn.functional.mse_loss(m(x), y)},
        config=config,
        paths=RunPaths.in_dir(run_dir),
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    """An uninterrupted 40-step run."""
    run_dir = tmp_path_factory.mktemp("reference")
    return run_tiny(run_dir, TOTAL), run_dir


def assert_same_run(result: TrainResult, run_dir: Path, reference: tuple[TrainResult, Path]):
    ref_result, ref_dir = reference
    for name, ref_tensor in ref_result.model.state_dict().items():
        assert torch.equal(result.model.state_dict()[name], ref_tensor), name
    for name, ref_tensor in ref_result.ema_model.state_dict().items():
        assert torch.equal(result.ema_model.state_dict()[name], ref_tensor), name
    ref_csv = (ref_dir / "metrics.csv").read_text()
    assert (run_dir / "metrics.csv").read_text() == ref_csv
    assert result.history == ref_result.history


def test_loss_decreases_and_outputs_are_written(reference):
    result, run_dir = reference
    rows = result.history
    assert [row["step"] for row in rows] == list(range(3, TOTAL + 1, 3))
    assert rows[-1]["loss"] < 0.3 * rows[0]["loss"]
    assert rows[-1]["val_mse"] < 0.3 * rows[0]["val_mse"]
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,loss,grad_norm,lr,abs_err,val_mse"
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + len(rows)
    model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 2))
    load_trained(run_dir / "model.pt", model, use_ema=True)
    for name, tensor in result.ema_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor)
    assert not torch.equal(model[0].weight, result.model[0].weight)


def test_load_trained_best_weights_and_errors_name_the_file(tmp_path):
    """`best=True` loads the best-on-validation weights; missing or unfitting ones are refused."""
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    path = tmp_path / "model.pt"
    torch.save(
        {"model": None, "ema": None, "best": {"step": 3, "model": source.state_dict()}}, path
    )
    load_trained(path, target, best=True)
    assert torch.equal(target.weight, source.weight)
    torch.save({"model": source.state_dict(), "ema": None, "best": None}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="old.pt: no best-on-validation weights"):
        load_trained(tmp_path / "old.pt", target, best=True)
    with pytest.raises(ValueError, match="old.pt holds no 'ema' weights"):
        load_trained(tmp_path / "old.pt", target)
    with pytest.raises(ValueError, match="model.pt: the best-on-validation weights do not fit"):
        load_trained(path, nn.Linear(4, 2), best=True)


def test_stop_then_continue_matches_uninterrupted(tmp_path, reference):
    first = run_tiny(tmp_path, 17)
    assert first.history[-1]["step"] == 15
    result = run_tiny(tmp_path, TOTAL)
    assert result.resumed_from == 17
    assert_same_run(result, tmp_path, reference)
    rerun = run_tiny(tmp_path, TOTAL)
    assert rerun.resumed_from == TOTAL
    assert_same_run(rerun, tmp_path, reference)


def test_crash_then_resume_matches_uninterrupted(tmp_path, reference):
    with pytest.raises(Crash):
        run_tiny(tmp_path, TOTAL, crash_at=17)
    steps_on_disk = [
        line.split(",")[0] for line in (tmp_path / "metrics.csv").read_text().splitlines()[1:]
    ]
    assert steps_on_disk == ["3", "6", "9", "12", "15"]
    result = run_tiny(tmp_path, TOTAL)
    assert result.resumed_from == 15
    assert_same_run(result, tmp_path, reference)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, reference):
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); from pathlib import Path; "
        f"from test_train import run_tiny; run_tiny(Path({str(tmp_path)!r}), {TOTAL}, "
        f"step_sleep=0.03)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint written by the subprocess"
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    proc.stderr.close()
    assert not (tmp_path / "model.pt").exists()
    killed_at = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"]
    assert 5 <= killed_at < TOTAL
    result = run_tiny(tmp_path, TOTAL)
    assert result.resumed_from == killed_at
    assert_same_run(result, tmp_path, reference)


def save_failing_on_second_call(fail: Callable[[], None]) -> Callable[..., None]:
    """torch.save that half-writes its second checkpoint and then calls `fail` (which raises)."""
    real_save, calls = torch.save, []

    def save(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"half a checkpoint")
            fail()
        real_save(obj, path, *args, **kwargs)

    return save


def assert_previous_checkpoint_resumes(run_dir: Path, reference) -> None:
    """Only the step-5 checkpoint and the metrics remain, and resuming ends as the reference."""
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "metrics.csv"]
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"] == 5
    result = run_tiny(run_dir, TOTAL)
    assert result.resumed_from == 5
    assert_same_run(result, run_dir, reference)


def test_failed_checkpoint_write_keeps_previous(tmp_path, monkeypatch, reference):
    def disk_full() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_failing_on_second_call(disk_full))
    with pytest.raises(OSError, match="disk full"):
        run_tiny(tmp_path, TOTAL)
    monkeypatch.undo()
    assert_previous_checkpoint_resumes(tmp_path, reference)


def test_resume_with_other_seed_is_refused(tmp_path):
    run_tiny(tmp_path, 5)
    model = nn.Linear(4, 2)
    config = TrainConfig(total_steps=10, seed=SEED + 1, progress=False)
    with pytest.raises(ValueError, match="seed"):
        train(
            model,
            lambda m, b, s: (m(b).sum(), {}),
            lambda s, g: torch.zeros(1, 4),
            lambda p: torch.optim.SGD(p, lr=0.1),
            config,
            RunPaths.in_dir(tmp_path),
        )


def test_epoch_batches_cover_each_row_once_per_epoch():
    data = torch.arange(10)
    batches = EpochBatches([data, -data], batch_size=3, seed=1)
    assert batches.steps_per_epoch == 3
    epoch0 = torch.cat([batches(step)[0] for step in range(3)])
    epoch1 = torch.cat([batches(step)[0] for step in range(3, 6)])
    assert len(set(epoch0.tolist())) == 9 and len(set(epoch1.tolist())) == 9
    assert not torch.equal(epoch0, epoch1)
    assert torch.equal(batches(4)[0], EpochBatches([data, -data], 3, seed=1)(4)[0])
    assert torch.equal(batches(4)[1], -batches(4)[0])


def test_select_device_is_cpu_here():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert select_device() == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        select_device("cuda")


# ---------------------------------------------------------------- a config change loses nothing


def test_changed_settings_keep_the_checkpoint_and_going_back_resumes_it(
    tmp_path, reference, caplog
):
    """Settings A to step 15, B (other lr) briefly, back to A: A resumes at 15, exactly."""
    settings_a, settings_b = {"lr": 3e-2}, {"lr": 1e-2}
    assert not reset_stale_run(tmp_path, settings_a)
    with pytest.raises(Crash):
        run_tiny(tmp_path, TOTAL, crash_at=17)
    with caplog.at_level("INFO", logger="neurodiff.train"):
        assert reset_stale_run(tmp_path, settings_b)
    assert "it is kept in" in caplog.text
    assert not (tmp_path / "checkpoint.pt").exists()
    with pytest.raises(Crash):
        run_tiny(tmp_path, TOTAL, crash_at=7, lr=1e-2)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 5
    with caplog.at_level("INFO", logger="neurodiff.train"):
        assert reset_stale_run(tmp_path, settings_a)
    assert "their checkpoint comes back" in caplog.text
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 15
    result = run_tiny(tmp_path, TOTAL)
    assert result.resumed_from == 15
    assert_same_run(result, tmp_path, reference)
    (kept_b,) = (tmp_path / "superseded").glob("*/checkpoint.pt")
    assert torch.load(kept_b, weights_only=True)["step"] == 5
    assert json.loads((kept_b.parent / "run_settings.json").read_text()) == settings_b


def test_ldns_fit_resumes_its_first_settings_after_an_lr_change(tmp_path):
    """Through a fit module (the spike-history GLM): A, then lr B, then A again resumes A."""
    rng = np.random.default_rng(0)
    rates = np.full((12, 30, 4), 0.3, np.float32)
    spikes = rng.poisson(rates).astype(np.float32)
    settings_a = SpikeHistorySettings(
        history_bins=5, steps=20, lr=0.1, weight_decay=0.01, clip=5, sample_cap=5
    )
    settings_b = dataclasses.replace(settings_a, lr=0.05)

    def fit(settings: SpikeHistorySettings) -> tuple[nn.Module, int]:
        model = train_spike_history(
            spikes, rates, settings, tmp_path, seed=0, device="cpu", progress=False
        )
        return model, json.loads((tmp_path / "summary.json").read_text())["resumed_from_step"]

    first, resumed_from = fit(settings_a)
    assert resumed_from == 0
    assert fit(settings_b)[1] == 0
    again, resumed_from = fit(settings_a)
    assert resumed_from == settings_a.steps  # A's final checkpoint: nothing retrained
    for name, tensor in first.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
    assert len(list((tmp_path / "superseded").glob("*/checkpoint.pt"))) == 1  # B's, kept


# ---------------------------------------------------------------- disk full


def test_disk_full_during_checkpoint_save_names_path_and_cause(tmp_path, monkeypatch, reference):
    """torch.save on a full disk raises a bare RuntimeError; the loop names file and cause."""
    real_save = torch.save

    def full_disk() -> None:
        real_save({"x": 1}, "/dev/full")  # RuntimeError: [enforce fail ...] unexpected pos

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    monkeypatch.setattr(torch, "save", save_failing_on_second_call(full_disk))
    monkeypatch.setattr("neurodiff.io._free_bytes", lambda directory: 0)
    with pytest.raises(WriteError) as info:
        run_tiny(tmp_path, TOTAL)
    message = str(info.value)
    assert message.startswith(f"cannot write {tmp_path / 'checkpoint.pt'}: no space left on device")
    assert isinstance(info.value, RuntimeError)
    monkeypatch.undo()
    assert_previous_checkpoint_resumes(tmp_path, reference)


def test_enospc_during_checkpoint_save_names_path_and_cause(tmp_path, monkeypatch):
    real_save = torch.save

    def enospc(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    run_tiny(tmp_path, 5)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    monkeypatch.setattr(torch, "save", enospc)
    with pytest.raises(OSError) as info:
        run_tiny(tmp_path, 10)
    assert str(info.value) == f"cannot write {tmp_path / 'checkpoint.pt'}: no space left on device"
    assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(torch, "save", real_save)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_warmup_cosine_has_known_values():
    from neurodiff.train import warmup_cosine

    factor = warmup_cosine(total_steps=10, warmup_steps=2)
    assert [factor(k) for k in (0, 1, 2)] == [0.5, 1.0, 1.0]  # the first step already learns
    assert factor(6) == pytest.approx(0.5)  # half-way through the cosine
    assert factor(10) == pytest.approx(0.0) and factor(13) == pytest.approx(0.0)  # stays at 0
