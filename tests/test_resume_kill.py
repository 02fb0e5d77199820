"""Cluster execution: a training job SIGKILLed midway and rerun by Snakemake resumes from its
checkpoint and ends with exactly the files of an uninterrupted run (CPU, same seed).

Slow test: for each covered rule, in a fresh copy of the workflow (quick preset): build the
target once without interruption and set its run directory aside as the reference; build it as
`python -m snakemake --cores 1 <target>` again in its own process group, SIGKILL the group as
soon as a checkpoint strictly between step 0 and the last step exists, then
`snakemake --unlock` and `snakemake --cores 1 --rerun-incomplete <target>`. The rerun must log
that it resumed at the checkpoint's step, and every weights file, array file and metrics CSV
must equal the reference's exactly.

Fast tests: the parts of the training loop that make this hold beyond weights and optimizer
state: best-weights selection travels in the checkpoint, a checkpoint of other settings or data
is discarded, leftovers of a killed write are cleaned up, an old-format checkpoint is not resumed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from neurodiff.train import (
    RunPaths,
    TrainConfig,
    TrainResult,
    data_digest,
    reset_stale_run,
    seed_everything,
    train,
)

SNAKEMAKE_TIMEOUT_S = 300
POLL_S = 0.02
RESUMED = re.compile(r"resuming from checkpoint \S+ at step (\d+) of (\d+)")
# run summaries and provenance sidecars record wall times, timestamps and the resumed-from step
NOT_COMPARED = ("summary.json", ".provenance.json")


@dataclass(frozen=True)
class TrainingRule:
    """One training rule's target, the folder its outputs and run directory live in, its log."""

    target: str
    outputs: str
    log: str
    config: str = ""


RULES = {
    # 400 steps (80 epochs × 5 batches), a checkpoint every 40 steps
    "ldns_denoiser": TrainingRule(
        target="results/quick/ldns/models/lorenz_unconditional/denoiser/model.pt",
        outputs="results/quick/ldns/models/lorenz_unconditional/denoiser",
        log="logs/quick/ldns/denoiser_lorenz_unconditional.log",
    ),
    # 600 steps; the quick preset checkpoints only at the end (checkpoint_every: 1000), so a
    # config file on the command line asks for a checkpoint every 100 steps
    "benediff_frame_ae": TrainingRule(
        target="results/quick/benediff/models/video/session1/frame_ae.pt",
        outputs="results/quick/benediff/models/video/session1",
        log="logs/quick/benediff/frame_ae_session1.log",
        config="benediff:\n  frame_ae:\n    train:\n      checkpoint_every: 100\n",
    ),
}


def snakemake_args(root: Path, rule: TrainingRule, *extra: str) -> list[str]:
    """The command line of one Snakemake call on the rule's target, with its config overlay."""
    overlay = []
    if rule.config:
        (root / "overlay.yaml").write_text(rule.config)
        overlay = ["--configfile", "overlay.yaml"]
    return [sys.executable, "-m", "snakemake", "--cores", "1", *extra, *overlay, "--", rule.target]


def run_snakemake(root: Path, args: list[str]) -> subprocess.CompletedProcess:
    """Run Snakemake to completion in `root`; fail the test with its output if it fails."""
    result = subprocess.run(args, cwd=root, capture_output=True, text=True,
                            timeout=SNAKEMAKE_TIMEOUT_S)
    assert result.returncode == 0, f"{args} failed:\n{result.stderr[-5000:]}"
    return result


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint file, or None if it does not exist yet."""
    if not path.exists():
        return None
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def kill_midway(root: Path, rule: TrainingRule, checkpoint: Path, total: int) -> int:
    """Start the target's build, SIGKILL its process group at the first intermediate checkpoint.

    Returns the step of the checkpoint left on disk.
    """
    with open(root / "killed_run.log", "w") as out:
        proc = subprocess.Popen(snakemake_args(root, rule), cwd=root, stdout=out, stderr=out,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + SNAKEMAKE_TIMEOUT_S
            while not 0 < (checkpoint_step(checkpoint) or 0) < total:
                assert proc.poll() is None, (
                    "Snakemake ended before an intermediate checkpoint was written:\n"
                    + (root / "killed_run.log").read_text()[-5000:])
                assert time.monotonic() < deadline, "no intermediate checkpoint in time"
                time.sleep(POLL_S)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    return checkpoint_step(checkpoint)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts, lists and tuples, keyed by their path."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return {prefix: obj}
    return {key: value for name, child in items
            for key, value in flatten(child, f"{prefix}/{name}").items()}


def assert_same_leaves(reference: Any, resumed: Any, where: str) -> None:
    """Two loaded files hold the same structure and bit-identical tensors and values."""
    ref, new = flatten(reference), flatten(resumed)
    assert sorted(ref) == sorted(new), where
    for key, value in ref.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, new[key]), f"{where}: tensor {key} differs"
        else:
            assert value == new[key], f"{where}: {key} is {new[key]!r}, expected {value!r}"


def assert_same_outputs(reference: Path, resumed: Path) -> None:
    """Same files; equal weights, arrays, metrics rows and settings (not summaries, sidecars)."""
    names = {p.relative_to(reference) for p in reference.rglob("*") if p.is_file()}
    assert names == {p.relative_to(resumed) for p in resumed.rglob("*") if p.is_file()}
    assert any(name.name == "checkpoint.pt" for name in names)
    for name in sorted(names):
        ref, new = reference / name, resumed / name
        if name.suffix == ".pt":
            assert_same_leaves(torch.load(ref, weights_only=True),
                               torch.load(new, weights_only=True), str(name))
        elif name.suffix == ".npz":
            with np.load(ref) as a, np.load(new) as b:
                assert a.files == b.files, name
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
        elif not name.name.endswith(NOT_COMPARED):
            assert ref.read_bytes() == new.read_bytes(), f"{name} differs"


@pytest.mark.slow
@pytest.mark.parametrize("rule_name", sorted(RULES))
def test_killed_training_job_resumes_to_identical_results(workflow_copy: Path, rule_name: str,
                                                         capsys: pytest.CaptureFixture):
    rule = RULES[rule_name]
    root, outputs = workflow_copy, workflow_copy / rule.outputs
    run_snakemake(root, snakemake_args(root, rule))
    (checkpoint,) = outputs.rglob("checkpoint.pt")
    summary = json.loads((checkpoint.parent / "summary.json").read_text())
    total = summary["total_steps"]
    assert summary["resumed_from_step"] == 0
    reference = root / "reference"
    shutil.move(outputs, reference)

    killed_at = kill_midway(root, rule, checkpoint, total)
    assert 0 < killed_at < total
    assert not (root / rule.target).exists()
    assert not (checkpoint.parent / "model.pt").exists()

    if any((root / ".snakemake" / "locks").glob("*")):
        run_snakemake(root, [sys.executable, "-m", "snakemake", "--unlock"])
    run_snakemake(root, snakemake_args(root, rule, "--rerun-incomplete"))
    resumed = RESUMED.findall((root / rule.log).read_text())
    assert resumed == [(str(killed_at), str(total))]
    assert json.loads((checkpoint.parent / "summary.json").read_text())[
        "resumed_from_step"] == killed_at
    assert_same_outputs(reference, outputs)
    with capsys.disabled():  # visible in CI logs even under `pytest -q`
        print(f"\n[resume] {rule_name}: killed (SIGKILL) at step {killed_at}/{total}, resumed, "
              f"outputs identical to the uninterrupted run")


# ---------------------------------------------------------------------------------------------
# The training loop's restart-safety mechanisms, at the library level

TOTAL = 30
BEST_STEP = 9  # a log row before the checkpoint at step 10 (the kill comes at step 13)


class Crash(RuntimeError):
    """Raised by the batch source to simulate a job dying mid-run."""


def noisy_fit(run_dir: Path, crash_at: int | None = None, targets: float = 1.0) -> TrainResult:
    """A linear fit whose validation metric is lowest at BEST_STEP, not at the last row."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=gen)
    y = targets * (x @ torch.tensor([[1.0], [-2.0], [0.5]]))

    def batch_fn(step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if step == crash_at:
            raise Crash(f"simulated kill at step {step}")
        rows = torch.randint(0, len(x), (4,), generator=generator)
        return x[rows], y[rows]

    def loss_fn(model: nn.Module, batch: tuple, step: int) -> tuple[torch.Tensor, dict]:
        return nn.functional.mse_loss(model(batch[0] + 0.3 * torch.randn_like(batch[0])),
                                      batch[1]), {}

    def eval_fn(model: nn.Module, step: int) -> dict[str, torch.Tensor]:
        return {"val": nn.functional.mse_loss(model(x), y) + abs(step - BEST_STEP)}

    seed_everything(3)
    config = TrainConfig(total_steps=TOTAL, seed=3, checkpoint_every=5, log_every=3,
                         progress=False, best_metric="val")
    return train(nn.Linear(3, 1), loss_fn, batch_fn, lambda p: torch.optim.SGD(p, lr=0.05),
                 config, RunPaths.in_dir(run_dir), eval_fn=eval_fn)


def test_best_weights_after_a_kill_equal_an_uninterrupted_run(tmp_path):
    reference = noisy_fit(tmp_path / "reference")
    values = [row["val"] for row in reference.history]
    assert reference.best.step == BEST_STEP == reference.history[int(np.argmin(values))]["step"]
    assert reference.best.value == min(values)
    assert not torch.equal(reference.best.state_dict["weight"], reference.model.weight)
    with pytest.raises(Crash):
        noisy_fit(tmp_path / "run", crash_at=13)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 10
    resumed = noisy_fit(tmp_path / "run")
    assert resumed.resumed_from == 10
    assert (resumed.best.step, resumed.best.value) == (reference.best.step, reference.best.value)
    for key, tensor in reference.best.state_dict.items():
        assert torch.equal(resumed.best.state_dict[key], tensor), key
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["best"]
    assert saved["step"] == reference.best.step
    assert torch.equal(saved["model"]["weight"], reference.best.state_dict["weight"])
    assert not (tmp_path / "run" / "best.pt").exists()


def test_best_metric_missing_from_the_rows_is_a_clear_error(tmp_path):
    config = TrainConfig(total_steps=4, log_every=2, progress=False, best_metric="val")
    with pytest.raises(ValueError, match="best_metric 'val' is not among the logged metrics"):
        train(nn.Linear(2, 1), lambda m, b, s: (m(b).pow(2).mean(), {}),
              lambda s, g: torch.ones(3, 2), lambda p: torch.optim.SGD(p, lr=0.1), config,
              RunPaths.in_dir(tmp_path))


def test_changed_data_discards_the_checkpoint(tmp_path):
    first = noisy_fit(tmp_path)
    settings = {"lr": 0.05, "data": data_digest(np.arange(4.0))}
    assert not reset_stale_run(tmp_path, settings)
    assert not reset_stale_run(tmp_path, settings)
    assert noisy_fit(tmp_path).resumed_from == TOTAL
    assert reset_stale_run(tmp_path, {**settings, "data": data_digest(np.arange(4.0) + 1)})
    assert not (tmp_path / "checkpoint.pt").exists()
    retrained = noisy_fit(tmp_path, targets=2.0)
    assert retrained.resumed_from == 0
    assert not torch.equal(retrained.model.weight, first.model.weight)


def test_data_digest_tells_values_dtypes_and_shapes_apart():
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    digests = {data_digest(base), data_digest(base.reshape(3, 2)),
               data_digest(base.astype(np.float64)), data_digest(base + 1),
               data_digest(base, base)}
    assert len(digests) == 5
    assert data_digest(torch.from_numpy(base)) == data_digest(base.copy())


def test_leftovers_of_a_killed_write_are_removed(tmp_path):
    partial = tmp_path / ".checkpoint.pt.k1ll3d.pt"
    partial.write_bytes(b"half a checkpoint")
    noisy_fit(tmp_path)
    assert not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt", "metrics.csv", "model.pt", "summary.json"]


def test_checkpoint_of_an_older_format_is_not_resumed(tmp_path, caplog):
    torch.save({"format": 1, "step": 20}, tmp_path / "checkpoint.pt")
    with caplog.at_level("WARNING", logger="neurodiff.train"):
        result = noisy_fit(tmp_path)
    assert result.resumed_from == 0
    assert "cannot be resumed exactly" in caplog.text
