"""Cluster execution: a training job SIGKILLed midway and rerun by Snakemake resumes from its
checkpoint and ends with exactly the files of an uninterrupted run (CPU, same seed).

Slow test: for each training rule type (`RULES`), in a fresh copy of the workflow (quick preset):
build the
target once without interruption and set its run directory aside as the reference; build it as
`python -m snakemake --cores 1 <target>` again in its own process group, SIGKILL the group as
soon as a checkpoint strictly between step 0 and the last step exists, then
`snakemake --unlock` and the same `snakemake --cores 1 <target>` (the workflow profile
`profiles/default` adds --rerun-incomplete). The rerun must log that it removed the killed job's
stale training lock and resumed at the checkpoint's step, and every weights file, array file and
metrics CSV must equal the reference's exactly.

Fast tests: the parts of the training loop that make this hold beyond weights and optimizer
state: best-weights selection travels in the checkpoint, a checkpoint of other settings or data
is discarded, leftovers of a killed write are cleaned up, an old-format checkpoint is not resumed,
a run shorter than `checkpoint_every` still checkpoints midway.
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

import neurodiff.train as train_module
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
    """One training rule: its target, the outputs it writes (globs, moved aside for the
    reference), its run directories' checkpoints (glob), its log and a config overlay."""

    target: str
    outputs: tuple[str, ...]
    checkpoints: str
    log: str
    config: str = ""


LDNS_MODELS = "results/quick/ldns/models"
BD_VIDEO = "results/quick/benediff/models/video/session1"
GN_MODELS = "results/quick/gnocchi/models/reaching"
# a short GNOCCHI/LFADS run (quick: 500 steps each) keeps each case well under a minute on CI
# (the LFADS model of gnocchi_train, same rule and script, would add ~50 s: left out)
GNOCCHI_STEPS = "gnocchi:\n  gnocchi:\n    train: {steps: 120}\n"

# every training rule type but ldns_spike_history (its upstream, MC_Maze autoencoder, denoiser,
# samples and LFADS, takes minutes; test_spike_history_fit_resumes_after_a_kill covers its
# training); the quick preset's checkpoint_every (up to 1000) exceeds several of
# these runs, so each mid-run checkpoint below comes from the cap at a quarter of the run
RULES = {
    # 300 steps
    "ldns_autoencoder": TrainingRule(
        target=f"{LDNS_MODELS}/lorenz/autoencoder/selected.pt",
        outputs=(f"{LDNS_MODELS}/lorenz/autoencoder", f"{LDNS_MODELS}/lorenz/latents.npz*"),
        checkpoints=f"{LDNS_MODELS}/lorenz/autoencoder/checkpoint.pt",
        log="logs/quick/ldns/autoencoder_lorenz.log",
    ),
    # 400 steps, a checkpoint every 40 steps
    "ldns_denoiser": TrainingRule(
        target=f"{LDNS_MODELS}/lorenz_unconditional/denoiser/model.pt",
        outputs=(f"{LDNS_MODELS}/lorenz_unconditional/denoiser",),
        checkpoints=f"{LDNS_MODELS}/lorenz_unconditional/denoiser/checkpoint.pt",
        log="logs/quick/ldns/denoiser_lorenz_unconditional.log",
    ),
    # 120 steps
    "ldns_lfads": TrainingRule(
        target=f"{LDNS_MODELS}/lorenz/lfads/model.pt",
        outputs=(f"{LDNS_MODELS}/lorenz/lfads", "results/quick/ldns/samples/lorenz_lfads.npz*"),
        checkpoints=f"{LDNS_MODELS}/lorenz/lfads/checkpoint.pt",
        log="logs/quick/ldns/lfads_lorenz.log",
    ),
    "gnocchi_train_gnocchi": TrainingRule(
        target=f"{GN_MODELS}/gnocchi/seed0/model.pt",
        outputs=(f"{GN_MODELS}/gnocchi/seed0",),
        checkpoints=f"{GN_MODELS}/gnocchi/seed0/checkpoint.pt",
        log="logs/quick/gnocchi/train_reaching_gnocchi_seed0.log",
        config=GNOCCHI_STEPS,
    ),
    # one run dir per method × seed (here 2 × 1 of quick's 4 × 2), 100 steps each
    # (checkpoint_every: 1000)
    "benediff_lvm": TrainingRule(
        target="results/quick/benediff/models/lvm/session1/VIS_R/latents.npz",
        outputs=("results/quick/benediff/models/lvm/session1/VIS_R",),
        checkpoints="results/quick/benediff/models/lvm/session1/VIS_R/runs/*/checkpoint.pt",
        log="logs/quick/benediff/lvm_session1_VIS_R.log",
        config="benediff:\n  seeds: [0]\n  lvm:\n    methods: [benediff, beta_vae]\n",
    ),
    # 600 steps (checkpoint_every: 1000)
    "benediff_frame_ae": TrainingRule(
        target=f"{BD_VIDEO}/frame_ae.pt",
        outputs=(
            f"{BD_VIDEO}/frame_ae.pt*",
            f"{BD_VIDEO}/codes.npz*",
            f"{BD_VIDEO}/runs/frame_ae_*",
        ),
        checkpoints=f"{BD_VIDEO}/runs/frame_ae_*/checkpoint.pt",
        log="logs/quick/benediff/frame_ae_session1.log",
    ),
    # 80 steps here (quick: 300, checkpoint_every: 1000)
    "benediff_video_diffusion": TrainingRule(
        target=f"{BD_VIDEO}/diffusion.pt",
        outputs=(f"{BD_VIDEO}/diffusion.pt*", f"{BD_VIDEO}/runs/diffusion_*"),
        checkpoints=f"{BD_VIDEO}/runs/diffusion_*/checkpoint.pt",
        log="logs/quick/benediff/video_diffusion_session1.log",
        config="benediff:\n  diffusion:\n    train: {steps: 80}\n",
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
    result = subprocess.run(
        args, cwd=root, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT_S
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stderr[-5000:]}"
    return result


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint file, or None if it does not exist (yet, or any more)."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["step"])
    except FileNotFoundError:
        return None


def checkpoint_steps(root: Path, rule: TrainingRule) -> dict[Path, int]:
    """The step of every run directory's checkpoint on disk, by run directory."""
    steps = {path.parent: checkpoint_step(path) for path in root.glob(rule.checkpoints)}
    return {run: step for run, step in steps.items() if step is not None}


def kill_midway(root: Path, rule: TrainingRule, totals: dict[Path, int]) -> dict[Path, int]:
    """Start the target's build, SIGKILL its process group at the first intermediate checkpoint
    of any run directory. Returns the checkpoint steps left on disk."""

    def midway() -> bool:
        return any(0 < step < totals[run] for run, step in checkpoint_steps(root, rule).items())

    with open(root / "killed_run.log", "w") as out:
        proc = subprocess.Popen(
            snakemake_args(root, rule), cwd=root, stdout=out, stderr=out, start_new_session=True
        )
        try:
            deadline = time.monotonic() + SNAKEMAKE_TIMEOUT_S
            while not midway():
                assert proc.poll() is None, (
                    "Snakemake ended before an intermediate checkpoint was written:\n"
                    + (root / "killed_run.log").read_text()[-5000:]
                )
                assert time.monotonic() < deadline, "no intermediate checkpoint in time"
                time.sleep(POLL_S)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    return checkpoint_steps(root, rule)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts, lists and tuples, keyed by their path."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return {prefix: obj}
    return {
        key: value
        for name, child in items
        for key, value in flatten(child, f"{prefix}/{name}").items()
    }


def assert_same_leaves(reference: Any, resumed: Any, where: str) -> None:
    """Two loaded files hold the same structure and bit-identical tensors and values."""
    ref, new = flatten(reference), flatten(resumed)
    assert sorted(ref) == sorted(new), where
    for key, value in ref.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, new[key]), f"{where}: tensor {key} differs"
        else:
            assert value == new[key], f"{where}: {key} is {new[key]!r}, expected {value!r}"


def output_files(root: Path, rule: TrainingRule) -> list[Path]:
    """Every file the rule's output globs name under `root` (folders expanded), relative."""
    files = set()
    for pattern in rule.outputs:
        for path in root.glob(pattern):
            files |= {p for p in path.rglob("*") if p.is_file()} if path.is_dir() else {path}
    return sorted(path.relative_to(root) for path in files)


def assert_same_outputs(reference: Path, root: Path, rule: TrainingRule) -> None:
    """Same files; equal weights, arrays, metrics rows and settings (not summaries, sidecars)."""
    names = output_files(reference, rule)
    assert names == output_files(root, rule)
    assert any(name.name == "checkpoint.pt" for name in names)
    for name in names:
        ref, new = reference / name, root / name
        if name.suffix == ".pt":
            assert_same_leaves(
                torch.load(ref, weights_only=True), torch.load(new, weights_only=True), str(name)
            )
        elif name.suffix == ".npz":
            with np.load(ref) as a, np.load(new) as b:
                assert a.files == b.files, name
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
        elif not name.name.endswith(NOT_COMPARED):
            assert ref.read_bytes() == new.read_bytes(), f"{name} differs"


def move_outputs(root: Path, rule: TrainingRule, reference: Path) -> None:
    """Move everything the rule wrote (its output globs) to the same place under `reference`."""
    for pattern in rule.outputs:
        for path in sorted(root.glob(pattern)):
            dest = reference / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, dest)


@pytest.mark.slow
@pytest.mark.parametrize("rule_name", sorted(RULES))
def test_killed_training_job_resumes_to_identical_results(
    workflow_copy: Path, rule_name: str, capsys: pytest.CaptureFixture
):
    rule, root = RULES[rule_name], workflow_copy
    started = time.monotonic()
    run_snakemake(root, snakemake_args(root, rule))
    totals = {}
    for run in checkpoint_steps(root, rule):
        summary = json.loads((run / "summary.json").read_text())
        assert summary["resumed_from_step"] == 0
        totals[run] = summary["total_steps"]
    assert totals, f"no checkpoint matches {rule.checkpoints}"
    reference = root / "reference"
    move_outputs(root, rule, reference)

    on_disk = kill_midway(root, rule, totals)
    killed = {run: step for run, step in on_disk.items() if 0 < step < totals[run]}
    assert killed, f"the kill came after the last intermediate checkpoint: {on_disk}"
    assert not (root / rule.target).exists()
    assert not any((run / "model.pt").exists() for run in killed)
    assert all((run / "train.lock").exists() for run in killed)  # left by the killed job

    if any((root / ".snakemake" / "locks").glob("*")):
        run_snakemake(root, [sys.executable, "-m", "snakemake", "--unlock"])
    # no --rerun-incomplete: the workflow profile (profiles/default) sets it
    run_snakemake(root, snakemake_args(root, rule))
    text = (root / rule.log).read_text()
    resumed = sorted((int(a), int(b)) for a, b in RESUMED.findall(text))
    assert resumed == sorted((step, totals[run]) for run, step in on_disk.items())
    assert text.count("removed the stale training lock") == len(killed)
    for run, step in killed.items():
        assert json.loads((run / "summary.json").read_text())["resumed_from_step"] == step
        assert not (run / "train.lock").exists()
    assert_same_outputs(reference, root, rule)
    with capsys.disabled():  # visible in CI logs even under `pytest -q`
        steps = ", ".join(f"{step}/{totals[run]}" for run, step in killed.items())
        print(
            f"\n[resume] {rule_name}: killed (SIGKILL) at step {steps}, resumed, outputs "
            f"identical to the uninterrupted run ({time.monotonic() - started:.0f} s)"
        )


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
        return nn.functional.mse_loss(
            model(batch[0] + 0.3 * torch.randn_like(batch[0])), batch[1]
        ), {}

    def eval_fn(model: nn.Module, step: int) -> dict[str, torch.Tensor]:
        return {"val": nn.functional.mse_loss(model(x), y) + abs(step - BEST_STEP)}

    seed_everything(3)
    config = TrainConfig(
        total_steps=TOTAL,
        seed=3,
        checkpoint_every=5,
        log_every=3,
        progress=False,
        best_metric="val",
    )
    return train(
        nn.Linear(3, 1),
        loss_fn,
        batch_fn,
        lambda p: torch.optim.SGD(p, lr=0.05),
        config,
        RunPaths.in_dir(run_dir),
        eval_fn=eval_fn,
    )


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
        train(
            nn.Linear(2, 1),
            lambda m, b, s: (m(b).pow(2).mean(), {}),
            lambda s, g: torch.ones(3, 2),
            lambda p: torch.optim.SGD(p, lr=0.1),
            config,
            RunPaths.in_dir(tmp_path),
        )


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
    digests = {
        data_digest(base),
        data_digest(base.reshape(3, 2)),
        data_digest(base.astype(np.float64)),
        data_digest(base + 1),
        data_digest(base, base),
    }
    assert len(digests) == 5
    assert data_digest(torch.from_numpy(base)) == data_digest(base.copy())


def test_leftovers_of_a_killed_write_are_removed(tmp_path):
    partial = tmp_path / ".checkpoint.pt.k1ll3d.pt"
    partial.write_bytes(b"half a checkpoint")
    noisy_fit(tmp_path)
    assert not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "metrics.csv",
        "model.pt",
        "summary.json",
    ]


def test_checkpoint_of_an_older_format_is_not_resumed(tmp_path, caplog):
    torch.save({"format": 1, "step": 20}, tmp_path / "checkpoint.pt")
    with caplog.at_level("WARNING", logger="neurodiff.train"):
        result = noisy_fit(tmp_path)
    assert result.resumed_from == 0
    assert "cannot be resumed exactly" in caplog.text


def test_checkpoint_interval_follows_the_run_length():
    assert TrainConfig(total_steps=100, checkpoint_every=1000).checkpoint_interval == 25
    assert TrainConfig(total_steps=600, checkpoint_every=100).checkpoint_interval == 100
    assert TrainConfig(total_steps=3, checkpoint_every=1000).checkpoint_interval == 1
    for total in (4, 5, 7, 100, 301, 600, 10_000):
        interval = TrainConfig(total_steps=total, checkpoint_every=10**6).checkpoint_interval
        assert len(range(interval, total, interval)) >= 3, total


def test_run_shorter_than_checkpoint_every_checkpoints_midway_and_resumes(tmp_path):
    def fit(run_dir: Path, crash_at: int | None = None) -> TrainResult:
        def batch_fn(step: int, generator: torch.Generator) -> torch.Tensor:
            if step == crash_at:
                raise Crash(f"simulated kill at step {step}")
            return torch.randn(4, 3, generator=generator)

        seed_everything(1)
        config = TrainConfig(
            total_steps=40, seed=1, checkpoint_every=1000, log_every=4, progress=False
        )
        return train(
            nn.Linear(3, 1),
            lambda m, b, s: (m(b).pow(2).mean(), {}),
            batch_fn,
            lambda p: torch.optim.Adam(p, lr=0.01),
            config,
            RunPaths.in_dir(run_dir),
        )

    reference = fit(tmp_path / "reference")
    steps = []
    for crash_at in (15, 25, 35):  # checkpoint_every 1000 > 40 steps: a checkpoint every 10
        with pytest.raises(Crash):
            fit(tmp_path / f"run{crash_at}", crash_at=crash_at)
        steps.append(checkpoint_step(tmp_path / f"run{crash_at}" / "checkpoint.pt"))
    assert steps == [10, 20, 30]
    resumed = fit(tmp_path / "run25")
    assert resumed.resumed_from == 20
    assert torch.equal(resumed.model.weight, reference.model.weight)
    assert resumed.history == reference.history


def test_spike_history_fit_resumes_after_a_kill(tmp_path, monkeypatch):
    from neurodiff.models.ldns.fit import train_spike_history
    from neurodiff.models.ldns.settings import SpikeHistorySettings

    rng = np.random.default_rng(0)
    rates = rng.uniform(0.05, 0.5, size=(6, 30, 5)).astype(np.float32)
    spikes = rng.poisson(rates).astype(np.float32)
    settings = SpikeHistorySettings(
        history_bins=4, steps=20, lr=0.05, weight_decay=0.01, clip=5, sample_cap=5
    )
    reference = train_spike_history(
        spikes, rates, settings, tmp_path / "reference", seed=0, device="cpu", progress=False
    )
    save = train_module._save_checkpoint

    def save_then_die(paths: RunPaths, state: Any, seed: int) -> None:
        save(paths, state, seed)
        if state.step == 8:
            raise Crash("simulated kill after the checkpoint at step 8")

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_die)
    with pytest.raises(Crash):
        train_spike_history(
            spikes, rates, settings, tmp_path / "run", seed=0, device="cpu", progress=False
        )
    monkeypatch.setattr(train_module, "_save_checkpoint", save)
    resumed = train_spike_history(
        spikes, rates, settings, tmp_path / "run", seed=0, device="cpu", progress=False
    )
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["resumed_from_step"] == 8
    for key, tensor in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], tensor), key
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == (
        tmp_path / "reference" / "metrics.csv"
    ).read_bytes()


def _tndm_fit(run_dir: Path) -> nn.Module:
    from neurodiff.models.baselines.tndm import TNDMSettings, train_tndm

    rng = np.random.default_rng(1)
    spikes = rng.poisson(0.4, size=(12, 10, 6)).astype(np.float32)
    behavior = rng.normal(size=(12, 10, 2)).astype(np.float32)
    model = dict(enc_dim=8, ic_dim=4, gen_dim=8, rel_factors=2, irr_factors=2, ramp_steps=5)
    settings = TNDMSettings(steps=24, batch_size=4, lr=0.01, grad_clip=200.0, model=model)
    return train_tndm(spikes, behavior, settings, run_dir, seed=0, device="cpu", progress=False)[0]


def _pivae_fit(run_dir: Path) -> nn.Module:
    from neurodiff.models.baselines.pivae import PiVAESettings, angle_labels, train_pivae

    rng = np.random.default_rng(1)
    spikes = rng.poisson(0.4, size=(12, 5, 6)).astype(np.float32)
    labels = angle_labels(rng.uniform(-np.pi, np.pi, 12))
    settings = PiVAESettings(
        z_dim=2, encoder_hidden=8, gin_blocks=1, steps=32, batch_size=15, lr=0.005
    )
    return train_pivae(spikes, labels, settings, run_dir, seed=0, device="cpu", progress=False)


@pytest.mark.parametrize("fit", [_tndm_fit, _pivae_fit], ids=["tndm", "pivae"])
def test_baseline_fit_resumes_after_a_kill(tmp_path, monkeypatch, fit):
    # TNDM and pi-VAE train through one loop (baselines.fitting.fit_with_adam): killed right
    # after a mid-run checkpoint, the rerun resumes there and ends with the reference weights
    reference = fit(tmp_path / "reference")
    total = json.loads((tmp_path / "reference" / "summary.json").read_text())["total_steps"]
    save, saved = train_module._save_checkpoint, []

    def save_then_die(paths: RunPaths, state: Any, seed: int) -> None:
        save(paths, state, seed)
        saved.append(state.step)
        if 0 < state.step < total:
            raise Crash(f"simulated kill after the checkpoint at step {state.step}")

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_die)
    with pytest.raises(Crash):
        fit(tmp_path / "run")
    monkeypatch.setattr(train_module, "_save_checkpoint", save)
    resumed = fit(tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["resumed_from_step"] == saved[-1] > 0
    for key, tensor in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], tensor), key
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == (
        tmp_path / "reference" / "metrics.csv"
    ).read_bytes()
