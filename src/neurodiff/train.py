"""One training loop for every model: seeded, device-agnostic, checkpointed and resumable.

`train` runs `config.total_steps` optimizer steps. Step k (0-based) trains on
`batch_fn(k, generator)` with `loss_fn(model, batch, k)`. Every `TrainConfig.checkpoint_interval`
steps (`checkpoint_every`, capped at a quarter of the run so that every run of 4 or more steps
writes at least 3 checkpoints before its end), and after the last one, it writes one checkpoint
atomically (temporary file + os.replace, so a kill never leaves a half-written file). The
checkpoint holds the model, optimizer, LR scheduler, EMA, step, the batch generator, the
torch/numpy/python RNG states, the metrics rows and (with `best_metric`) the best weights so far.
A restarted job (SLURM time limit, preemption, crash) finds the checkpoint and resumes from it,
so on the CPU it ends with exactly the weights and metrics of an uninterrupted run with the same
seed.

A checkpoint is only valid for the run that wrote it. `reset_stale_run` moves it aside when the
settings or the training data (`data_digest`) of a run directory change, so a rerun after an
upstream change trains afresh instead of resuming (or, at the last step, returning) old weights;
it never deletes one: each superseded checkpoint waits in `superseded/<hash of its settings>/` of
the
run directory and is moved back when its settings return, so going back to earlier settings
resumes their run instead of repeating it.

Two processes never train into one run directory: `train` holds `RunLock` (the file `train.lock`
with the owner's pid, host and start time, created with O_EXCL) from start to end. A lock left by
a process that died on this host is stale and removed with a log line; a live owner stops the
second run with `RunLockedError`. A lock from another host (shared file system, e.g. a Slurm job
requeued on another node) cannot be checked by pid: its owner refreshes it every
`LOCK_HEARTBEAT_SECONDS`, and a second run waits up to `STALE_LOCK_SECONDS` for it to go stale.

Outputs (`RunPaths`): the checkpoint; a metrics CSV with one row per `log_every` steps (means over
the steps since the previous row), rewritten atomically at each checkpoint, so after a restart it
holds exactly the rows up to the resumed step; the final weights; a JSON summary.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import json
import logging
import math
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.training_utils import EMAModel
from torch import nn
from tqdm.auto import tqdm

from neurodiff.config import config_hash
from neurodiff.io import atomic_path, is_live_temporary, pid_alive, write_json_atomic

log = logging.getLogger(__name__)

BatchFn = Callable[[int, torch.Generator], Any]
LossFn = Callable[[nn.Module, Any, int], tuple[torch.Tensor, Mapping[str, Any]]]
EvalFn = Callable[[nn.Module, int], Mapping[str, Any]]
OptimizerFactory = Callable[[Any], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]

CHECKPOINT_FORMAT = 2
RESERVED_COLUMNS = ("step", "loss", "grad_norm", "lr")
RUN_SETTINGS = "run_settings.json"
SUPERSEDED = "superseded"
PROGRESS_SECONDS_TTY = 0.1
PROGRESS_SECONDS_FILE = 10.0
CHECKPOINTS_PER_RUN = 4  # the interval is at most total_steps // 4: >= 3 checkpoints mid-run
LOCK_NAME = "train.lock"
LOCK_HEARTBEAT_SECONDS = 30.0  # a background thread refreshes the lock's mtime this often
STALE_LOCK_SECONDS = 180.0  # a lock from another host not refreshed for this long is stale


def select_device(prefer: str = "auto") -> torch.device:
    """The device to train on: "auto" gives cuda if available, else cpu; or a named device."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(prefer)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {prefer!r} requested but CUDA is not available")
    return device


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's (CPU and CUDA) global random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class EMASettings:
    """EMA of the weights with warm-up decay 1 − (1 + step)^−power, capped (LDNS: 2/3, 0.9999)."""

    max_decay: float = 0.9999
    min_decay: float = 0.0
    power: float = 2 / 3
    warmup: bool = True

    def build(self, model: nn.Module) -> EMAModel:
        """A diffusers EMAModel tracking the model's parameters."""
        return EMAModel(
            model.parameters(),
            decay=self.max_decay,
            min_decay=float(self.min_decay),
            use_ema_warmup=self.warmup,
            power=self.power,
        )


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (sizes and schedules live in the factories).

    `best_metric`: an `eval_fn` metric to minimise; the raw weights of the log row with its
    lowest value are kept in the checkpoint and the final weights file (`TrainResult.best`).
    `checkpoint_every` is an upper bound: see `checkpoint_interval`.
    """

    total_steps: int
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 50
    grad_clip: float | None = None
    ema: EMASettings | None = None
    device: str = "auto"
    progress: bool = True
    desc: str = "train"
    best_metric: str | None = None

    def __post_init__(self) -> None:
        for name in ("total_steps", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be >= 1")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"TrainConfig.grad_clip={self.grad_clip} must be > 0 or None")

    @property
    def checkpoint_interval(self) -> int:
        """Steps between checkpoints: `checkpoint_every`, at most a quarter of the run (>= 1)."""
        return min(self.checkpoint_every, max(1, self.total_steps // CHECKPOINTS_PER_RUN))


@dataclass(frozen=True)
class RunPaths:
    """Where a run writes its checkpoint, final weights, metrics CSV and summary JSON."""

    checkpoint: Path
    final_model: Path
    metrics_csv: Path
    summary_json: Path

    @classmethod
    def in_dir(cls, directory: str | Path) -> RunPaths:
        """The standard file names inside one run directory."""
        root = Path(directory)
        return cls(
            checkpoint=root / "checkpoint.pt",
            final_model=root / "model.pt",
            metrics_csv=root / "metrics.csv",
            summary_json=root / "summary.json",
        )


@dataclass
class BestWeights:
    """The raw weights at the log row with the lowest `best_metric`, that step and that value."""

    step: int
    value: float
    state_dict: dict[str, torch.Tensor]


@dataclass
class TrainResult:
    """The trained model, its EMA copy (if any), the metrics rows, the step resumed from and
    the best weights (with `best_metric`, once a log row was written)."""

    model: nn.Module
    ema_model: nn.Module | None
    history: list[dict[str, float]]
    resumed_from: int
    best: BestWeights | None = None


def data_digest(*arrays: np.ndarray | torch.Tensor) -> str:
    """A sha256 of the arrays' dtypes, shapes and bytes: identifies the data a run trains on."""
    digest = hashlib.sha256()
    for array in arrays:
        values = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array
        values = np.ascontiguousarray(values)
        digest.update(f"{values.dtype.str}{values.shape}".encode())
        digest.update(values.data if values.size else b"")
    return digest.hexdigest()


def reset_stale_run(run_dir: str | Path, settings: Mapping[str, Any]) -> bool:
    """Give `run_dir` the checkpoint of `settings`, moving one of other settings aside.

    `settings` is everything the run depends on besides its code, e.g. the hyperparameters and
    `data_digest` of the training arrays. When the recorded settings differ, the checkpoint and
    its metrics CSV move to `run_dir/superseded/<config_hash of theirs>/` (with their
    settings record); a checkpoint kept there for `settings` comes back, so the run resumes it.
    Nothing is deleted; each move is logged. Returns True when the recorded settings differ.
    Records `settings` (as JSON) for the next call.
    """
    run_dir = Path(run_dir)
    RunLock(run_dir).refuse_if_held()
    record = run_dir / RUN_SETTINGS
    current = json.loads(json.dumps(settings, sort_keys=True, default=str))
    previous = json.loads(record.read_text()) if record.exists() else None
    stale = previous is not None and previous != current
    paths = RunPaths.in_dir(run_dir)
    if stale and paths.checkpoint.exists():
        aside = run_dir / SUPERSEDED / config_hash(previous)
        _move_run_files(paths, RunPaths.in_dir(aside))
        write_json_atomic(aside / RUN_SETTINGS, previous)
        log.info(
            "%s: settings or data changed since the checkpoint was written; it is kept "
            "in %s (used again if these settings return); training starts from scratch",
            run_dir,
            aside,
        )
    kept = RunPaths.in_dir(run_dir / SUPERSEDED / config_hash(current))
    if not paths.checkpoint.exists() and kept.checkpoint.exists():
        _move_run_files(kept, paths)
        (kept.checkpoint.parent / RUN_SETTINGS).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            kept.checkpoint.parent.rmdir()
        log.info(
            "%s: these settings were trained here before; their checkpoint comes back from %s",
            run_dir,
            kept.checkpoint.parent,
        )
    write_json_atomic(record, current)
    return stale


class RunLockedError(RuntimeError):
    """Another live process trains into this run directory."""


class RunLock:
    """Exclusive use of one run directory by one training process (see the module docstring).

    The lock file holds JSON {pid, host, started, token}; it is created with O_CREAT|O_EXCL, a
    daemon thread refreshes its mtime every `LOCK_HEARTBEAT_SECONDS` and notices if it was taken
    away (then `heartbeat`, called by the loop at every step, raises), and it is deleted on exit,
    also after an exception. Use as a context manager.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.token = f"{os.getpid()}-{time.time_ns()}-{random.SystemRandom().getrandbits(32)}"
        self._held = False
        self._lost: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the lock file (a stale one is removed first); RunLockedError if one is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "token": self.token,
        }
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_stale()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(owner, fh)
                fh.flush()
                os.fsync(fh.fileno())
            self._held, self._lost = True, None
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._refresh, daemon=True, name=f"lock {self.path}"
            )
            self._thread.start()
            return
        raise RunLockedError(
            f"{self.path}: could not take the training lock (it keeps "
            "reappearing: another process is starting in this run directory)"
        )

    def refuse_if_held(self) -> None:
        """Raise RunLockedError if a live process holds the lock (a stale lock is removed)."""
        if self.path.exists():
            self._clear_stale()

    def heartbeat(self) -> None:
        """Raise RunLockedError if the refresh thread found the lock file no longer ours."""
        if self._lost is not None:
            owner = self._lost.get("owner")
            raise RunLockedError(
                f"{self.path}: this process (pid {os.getpid()} on "
                f"{socket.gethostname()}) lost its training lock; now held by "
                f"{_describe(owner)}; stopping so two runs never share the folder"
            )

    def _refresh(self) -> None:
        """Thread body: touch the lock file every LOCK_HEARTBEAT_SECONDS while it is ours."""
        while not self._stop.wait(LOCK_HEARTBEAT_SECONDS):
            owner = _read_lock(self.path)
            if owner is None or owner.get("token") != self.token:
                self._lost = {"owner": owner}
                return
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        """Stop the refresh thread and delete the lock file if this process holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._held:
            owner = _read_lock(self.path)
            if owner is not None and owner.get("token") == self.token:
                self.path.unlink(missing_ok=True)
            self._held = False

    def _clear_stale(self) -> None:
        """Remove the existing lock if its owner is gone; RunLockedError if it is alive."""
        owner = _read_lock(self.path)
        if owner is None and _age(self.path) < 10.0:
            time.sleep(0.1)  # an owner between O_EXCL create and writing its record
            owner = _read_lock(self.path)
        if owner is not None and owner.get("host") != socket.gethostname():
            deadline = time.monotonic() + STALE_LOCK_SECONDS + LOCK_HEARTBEAT_SECONDS
            if not _lock_is_stale(self.path, owner):
                log.warning(
                    "%s: held by %s on another host; waiting up to %.0f s for it to go stale",
                    self.path,
                    _describe(owner),
                    deadline - time.monotonic(),
                )
            while (
                self.path.exists()
                and not _lock_is_stale(self.path, owner)
                and time.monotonic() < deadline
            ):
                time.sleep(min(1.0, LOCK_HEARTBEAT_SECONDS))
                owner = _read_lock(self.path) or owner
            if not self.path.exists():
                return  # its owner finished meanwhile
        if owner is not None and not _lock_is_stale(self.path, owner):
            raise RunLockedError(
                f"{self.path.parent}: another process trains into this run directory: "
                f"{_describe(owner)} (lock file {self.path}). Wait for it to finish or stop it; "
                "delete the lock file only if that process is certainly gone"
            )
        aside = self.path.with_name(f".{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return  # another process removed it first
        moved = _read_lock(aside)
        if owner is not None and (moved or {}).get("token") != owner.get("token"):
            # a new owner took the lock between our read and the rename: give it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
            aside.unlink(missing_ok=True)
            raise RunLockedError(
                f"{self.path.parent}: another process trains into this run "
                f"directory: {_describe(moved)} (lock file {self.path})"
            )
        aside.unlink(missing_ok=True)
        log.warning(
            "%s: removed the stale training lock of %s (that process is gone)",
            self.path,
            _describe(owner),
        )


def _read_lock(path: Path) -> dict[str, Any] | None:
    """The owner record of a lock file (None if missing, empty or unreadable)."""
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _age(path: Path) -> float:
    """Seconds since `path` was last modified (0 if it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _lock_is_stale(path: Path, owner: Mapping[str, Any]) -> bool:
    """Dead pid on this host, or not refreshed for STALE_LOCK_SECONDS from another host."""
    if owner.get("host") == socket.gethostname():
        pid = owner.get("pid")
        return not (isinstance(pid, int) and pid > 0 and pid_alive(pid))
    return _age(path) > STALE_LOCK_SECONDS


def _describe(owner: Mapping[str, Any] | None) -> str:
    """'pid P on host H since T' for a lock record."""
    if owner is None:
        return "an unknown process (unreadable lock file)"
    return f"pid {owner.get('pid')} on host {owner.get('host')} since {owner.get('started')}"


def _move_run_files(source: RunPaths, dest: RunPaths) -> None:
    """Move a run's checkpoint and the metrics CSV it vouches for (os.replace, same disk)."""
    dest.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if source.metrics_csv.exists():
        os.replace(source.metrics_csv, dest.metrics_csv)
    os.replace(source.checkpoint, dest.checkpoint)


class EpochBatches:
    """Shuffled minibatches of in-memory tensors; batch k depends only on (seed, k).

    Epoch e uses the permutation drawn from numpy's generator seeded with (seed, e); incomplete
    last batches are dropped so every batch has `batch_size` rows.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, seed: int) -> None:
        n_rows = {len(t) for t in tensors}
        if len(n_rows) != 1:
            raise ValueError(f"tensors must share their first dimension, got lengths {n_rows}")
        self.tensors = tuple(tensors)
        self.n = n_rows.pop()
        if not 1 <= batch_size <= self.n:
            raise ValueError(f"batch_size={batch_size} must be in [1, {self.n}] (dataset size)")
        self.batch_size = batch_size
        self.seed = seed
        self._cached: tuple[int, torch.Tensor] | None = None

    @property
    def steps_per_epoch(self) -> int:
        """Number of full batches per pass over the data."""
        return self.n // self.batch_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        """The row order of one epoch (cached for the current epoch)."""
        if self._cached is None or self._cached[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._cached = (epoch, torch.from_numpy(order))
        return self._cached[1]

    def __call__(
        self, step: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The batch for training step `step` (the generator is not needed)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        rows = self._permutation(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        return tuple(t[rows] for t in self.tensors)


class _MeanTracker:
    """Running sums of scalar metrics between two log rows."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def pop_means(self) -> dict[str, float]:
        means = {key: total / self.count for key, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sums, self.count = dict(state["sums"]), int(state["count"])


@dataclass
class _RunState:
    """Everything that changes during training and goes into a checkpoint."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    ema: EMAModel | None
    generator: torch.Generator
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    tracker: _MeanTracker = field(default_factory=_MeanTracker)
    best: dict[str, Any] | None = None


def _derived_seed(seed: int, stream: int) -> int:
    """An independent seed for a named random stream (so batches and noise never coincide)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors inside nested dicts, lists and tuples to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch


def _scalar(value: Any) -> float:
    """A metric value (python number or one-element tensor) as a float."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _capture_rng() -> dict[str, Any]:
    """The global RNG states, in a form torch.load(weights_only=True) accepts."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_pos": numpy_state["state"]["pos"],
        "numpy_has_gauss": numpy_state["has_gauss"],
        "numpy_gauss": numpy_state["gauss"],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: Mapping[str, Any]) -> None:
    """Set the global RNG states saved by `_capture_rng`."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {
                "key": state["numpy_key"].numpy().astype(np.uint32),
                "pos": state["numpy_pos"],
            },
            "has_gauss": state["numpy_has_gauss"],
            "gauss": state["numpy_gauss"],
        }
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _checkpoint_payload(state: _RunState, seed: int) -> dict[str, Any]:
    """Everything needed to continue the run bit for bit."""
    return {
        "format": CHECKPOINT_FORMAT,
        "step": state.step,
        "seed": seed,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "ema": state.ema.state_dict() if state.ema is not None else None,
        "generator": state.generator.get_state(),
        "rng": _capture_rng(),
        "history": state.history,
        "tracker": state.tracker.state_dict(),
        "best": state.best,
    }


def _write_metrics_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Write the metrics rows as CSV (columns in order of first appearance), atomically."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _save_checkpoint(paths: RunPaths, state: _RunState, seed: int) -> None:
    """Write the checkpoint, then the metrics CSV it vouches for; each atomically."""
    with atomic_path(paths.checkpoint) as tmp:
        torch.save(_checkpoint_payload(state, seed), tmp)
    _write_metrics_csv(paths.metrics_csv, state.history)


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    """Read a checkpoint written by `_save_checkpoint` (None if an older loop wrote it)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise RuntimeError(
            f"cannot read checkpoint {path}: {err}. Delete it to restart training from scratch."
        ) from err
    if payload.get("format") != CHECKPOINT_FORMAT:
        log.warning(
            "checkpoint %s has format %r, not %d: it cannot be resumed exactly; "
            "training starts from scratch",
            path,
            payload.get("format"),
            CHECKPOINT_FORMAT,
        )
        return None
    return payload


def _check_compatible(
    payload: Mapping[str, Any], state: _RunState, config: TrainConfig, path: Path
) -> None:
    """Refuse to resume a checkpoint written by a differently configured run."""
    if payload["seed"] != config.seed:
        raise ValueError(
            f"checkpoint {path} was written with seed {payload['seed']}, "
            f"this run uses seed {config.seed}"
        )
    if payload["step"] > config.total_steps:
        raise ValueError(
            f"checkpoint {path} is at step {payload['step']}, beyond "
            f"total_steps={config.total_steps}"
        )
    for key, current in (("scheduler", state.scheduler), ("ema", state.ema)):
        if (payload[key] is None) != (current is None):
            saved = "no" if payload[key] is None else "a"
            used = "uses" if current is not None else "does not use"
            raise ValueError(f"checkpoint {path} holds {saved} {key} state but this run {used} one")


def _resume(payload: Mapping[str, Any], state: _RunState, device: torch.device) -> None:
    """Load a checkpoint's states into a freshly built run."""
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    if state.scheduler is not None:
        state.scheduler.load_state_dict(payload["scheduler"])
    if state.ema is not None:
        state.ema.load_state_dict(payload["ema"])
        state.ema.to(device)
    state.generator.set_state(payload["generator"])
    _restore_rng(payload["rng"])
    state.step = payload["step"]
    state.history = list(payload["history"])
    state.tracker.load_state_dict(payload["tracker"])
    state.best = payload["best"]


def _train_step(
    state: _RunState,
    loss_fn: LossFn,
    batch_fn: BatchFn,
    grad_clip: float | None,
    device: torch.device,
) -> dict[str, float]:
    """One optimizer step; returns the step's scalars (loss, grad_norm, lr, loss_fn extras)."""
    state.model.train()
    batch = _to_device(batch_fn(state.step, state.generator), device)
    loss, extras = loss_fn(state.model, batch, state.step)
    if loss.ndim != 0:
        raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()} at step {state.step}")
    clash = set(extras) & set(RESERVED_COLUMNS)
    if clash:
        raise ValueError(f"loss_fn returned reserved metric names {sorted(clash)}")
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip or math.inf)
    lr = state.optimizer.param_groups[0]["lr"]
    state.optimizer.step()
    if state.scheduler is not None:
        state.scheduler.step()
    if state.ema is not None:
        state.ema.step(state.model.parameters())
    return {
        "loss": loss.item(),
        "grad_norm": grad_norm.item(),
        "lr": lr,
        **{key: _scalar(value) for key, value in extras.items()},
    }


def _log_row(state: _RunState, eval_fn: EvalFn | None, best_metric: str | None) -> dict[str, float]:
    """Close the current logging interval: mean metrics since the last row, plus eval metrics.

    With `best_metric`, keep a copy of the weights if the row improves on the best so far.
    """
    row = {"step": state.step, **state.tracker.pop_means()}
    if eval_fn is not None:
        state.model.eval()
        with torch.no_grad():
            row |= {key: _scalar(value) for key, value in eval_fn(state.model, state.step).items()}
    state.history.append(row)
    if best_metric is not None:
        _update_best(state, row, best_metric)
    return row


def _update_best(state: _RunState, row: Mapping[str, float], best_metric: str) -> None:
    """Copy the weights into `state.best` if `row[best_metric]` is the lowest value so far."""
    if best_metric not in row:
        raise ValueError(
            f"best_metric {best_metric!r} is not among the logged metrics "
            f"{sorted(row)}; eval_fn must return it"
        )
    value = row[best_metric]
    if state.best is None or value < state.best["value"]:
        weights = {key: tensor.detach().clone() for key, tensor in state.model.state_dict().items()}
        state.best = {"step": state.step, "value": value, "model": weights}


def _ema_copy(model: nn.Module, ema: EMAModel | None) -> nn.Module | None:
    """A copy of the model carrying the EMA weights (None without EMA)."""
    if ema is None:
        return None
    averaged = copy.deepcopy(model)
    ema.copy_to(averaged.parameters())
    return averaged


def _build_state(
    model: nn.Module,
    make_optimizer: OptimizerFactory,
    make_scheduler: SchedulerFactory | None,
    config: TrainConfig,
) -> _RunState:
    """Fresh optimizer, scheduler, EMA and batch generator for a model already on its device."""
    optimizer = make_optimizer(model.parameters())
    return _RunState(
        model=model,
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer) if make_scheduler is not None else None,
        ema=config.ema.build(model) if config.ema is not None else None,
        generator=torch.Generator().manual_seed(_derived_seed(config.seed, 1)),
    )


def _progress_seconds() -> float:
    """Seconds between progress-bar updates: frequent on a terminal, rare in a log file."""
    return PROGRESS_SECONDS_TTY if sys.stderr.isatty() else PROGRESS_SECONDS_FILE


def _run_steps(
    state: _RunState,
    loss_fn: LossFn,
    batch_fn: BatchFn,
    eval_fn: EvalFn | None,
    config: TrainConfig,
    paths: RunPaths,
    device: torch.device,
    lock: RunLock | None = None,
) -> None:
    """Train from `state.step` to `config.total_steps`, logging and checkpointing on schedule."""
    with tqdm(
        total=config.total_steps,
        initial=state.step,
        desc=config.desc,
        disable=not config.progress,
        dynamic_ncols=True,
        mininterval=_progress_seconds(),
    ) as bar:
        while state.step < config.total_steps:
            state.tracker.add(_train_step(state, loss_fn, batch_fn, config.grad_clip, device))
            state.step += 1
            bar.update(1)
            if state.step % config.log_every == 0:
                row = _log_row(state, eval_fn, config.best_metric)
                bar.set_postfix(loss=f"{row['loss']:.4g}", refresh=False)
            if state.step % config.checkpoint_interval == 0 or state.step == config.total_steps:
                _save_checkpoint(paths, state, config.seed)
            if lock is not None:
                lock.heartbeat()


def _write_outputs(
    paths: RunPaths,
    state: _RunState,
    ema_model: nn.Module | None,
    config: TrainConfig,
    resumed_from: int,
    seconds: float,
    device: torch.device,
) -> None:
    """Final weights (raw and EMA), the metrics CSV and the summary JSON, each atomically."""
    with atomic_path(paths.final_model) as tmp:
        torch.save(
            {
                "step": state.step,
                "seed": config.seed,
                "model": state.model.state_dict(),
                "ema": ema_model.state_dict() if ema_model is not None else None,
                "best": state.best,
            },
            tmp,
        )
    _write_metrics_csv(paths.metrics_csv, state.history)
    write_json_atomic(
        paths.summary_json,
        {
            "total_steps": config.total_steps,
            "seed": config.seed,
            "device": str(device),
            "resumed_from_step": resumed_from,
            "seconds_this_run": round(seconds, 3),
            "has_ema": ema_model is not None,
            "best": {k: v for k, v in state.best.items() if k != "model"} if state.best else None,
            "last_row": state.history[-1] if state.history else None,
            "final_model": str(paths.final_model),
        },
    )


def train(
    model: nn.Module,
    loss_fn: LossFn,
    batch_fn: BatchFn,
    make_optimizer: OptimizerFactory,
    config: TrainConfig,
    paths: RunPaths,
    make_scheduler: SchedulerFactory | None = None,
    eval_fn: EvalFn | None = None,
) -> TrainResult:
    """Train `model`, resuming from `paths.checkpoint` if it exists; see the module docstring.

    `make_optimizer(params)` and `make_scheduler(optimizer)` build fresh objects (a per-step LR
    scheduler). `eval_fn(model, step)`, if given, runs in eval mode without grad at each log row
    and adds its scalars to the row. Build the model after `seed_everything(seed)` so that a
    fresh run's initial weights are reproducible.
    """
    with RunLock(paths.checkpoint.parent) as lock:
        started = time.perf_counter()
        device = select_device(config.device)
        seed_everything(config.seed)
        state = _build_state(model.to(device), make_optimizer, make_scheduler, config)
        _remove_partial_writes(paths)
        payload = _load_checkpoint(paths.checkpoint) if paths.checkpoint.exists() else None
        if payload is not None:
            _check_compatible(payload, state, config, paths.checkpoint)
            _resume(payload, state, device)
            log.info(
                "%s: resuming from checkpoint %s at step %d of %d",
                config.desc,
                paths.checkpoint,
                state.step,
                config.total_steps,
            )
        else:
            log.info("%s: training from scratch, %d steps", config.desc, config.total_steps)
        resumed_from = state.step
        _run_steps(state, loss_fn, batch_fn, eval_fn, config, paths, device, lock)
        ema_model = _ema_copy(state.model, state.ema)
        _write_outputs(
            paths, state, ema_model, config, resumed_from, time.perf_counter() - started, device
        )
        return TrainResult(
            state.model, ema_model, state.history, resumed_from, _best_weights(state)
        )


def section_config(section: Mapping[str, Any], seed: int, **fields: Any) -> TrainConfig:
    """TrainConfig from a config `train:` block (steps, checkpoint_every, log_every, grad_clip)."""
    return TrainConfig(
        total_steps=section["steps"],
        seed=seed,
        checkpoint_every=section["checkpoint_every"],
        log_every=section["log_every"],
        grad_clip=section["grad_clip"],
        **fields,
    )


def steps_config(
    total_steps: int, steps_per_pass: int, seed: int, log_cap: int | None = None, **fields: Any
) -> TrainConfig:
    """TrainConfig of `total_steps` steps, with about 10 checkpoints.

    `steps_per_pass`: the full batches of one pass over the training data
    (`EpochBatches.steps_per_epoch`). Unless `fields` give `log_every`, a log row comes every
    max(one pass, total / 20) steps, the total / 20 capped at `log_cap` when given.
    """
    if "log_every" not in fields:
        rows = total_steps // 20 if log_cap is None else min(total_steps // 20, log_cap)
        fields["log_every"] = max(steps_per_pass, rows)
    return TrainConfig(
        total_steps=total_steps,
        seed=seed,
        checkpoint_every=max(total_steps // 10, 1),
        **fields,
    )


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier of step k: (k + 1) / warmup_steps during the warm-up, then a half cosine
    to 0 at `total_steps` (GNOCCHI; LDNS uses diffusers' `get_cosine_schedule_with_warmup`,
    whose warm-up starts at 0 and whose cosine runs over `lr_horizon` × the steps)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def full_batches(n_rows: int, batch_size: int, where: str) -> int:
    """Full batches in one pass over `n_rows` rows; a batch larger than the data is an error."""
    if not 1 <= batch_size <= n_rows:
        raise ValueError(
            f"{where}: batch_size={batch_size} must be in [1, {n_rows}] (the training rows)"
        )
    return n_rows // batch_size


def train_on_tensors(
    model: nn.Module,
    loss_fn: LossFn,
    tensors: Sequence[torch.Tensor],
    batch_size: int,
    make_optimizer: OptimizerFactory,
    config: TrainConfig,
    run_dir: str | Path,
    make_scheduler: SchedulerFactory | None = None,
    eval_fn: EvalFn | None = None,
) -> TrainResult:
    """`train` in `run_dir` on shuffled minibatches of `tensors` (`EpochBatches`, config's seed)."""
    batches = EpochBatches(tensors, batch_size, config.seed)
    log.info(
        "%s: %d steps = %.1f passes over %d training rows (%d full batches of %d)",
        config.desc,
        config.total_steps,
        config.total_steps / batches.steps_per_epoch,
        batches.n,
        batches.steps_per_epoch,
        batch_size,
    )
    return train(
        model,
        loss_fn,
        batches,
        make_optimizer,
        config,
        RunPaths.in_dir(run_dir),
        make_scheduler,
        eval_fn,
    )


def _remove_partial_writes(paths: RunPaths) -> None:
    """Delete temporary files that a job killed while writing one of the run's files left
    (never those of a writer that is still running)."""
    for target in (paths.checkpoint, paths.final_model, paths.metrics_csv, paths.summary_json):
        for partial in target.parent.glob(f".{target.name}.*"):
            if not is_live_temporary(partial):
                partial.unlink(missing_ok=True)


def _best_weights(state: _RunState) -> BestWeights | None:
    """`state.best` as a BestWeights (None before the first log row or without best_metric)."""
    if state.best is None:
        return None
    return BestWeights(int(state.best["step"]), float(state.best["value"]), state.best["model"])


def load_trained(
    path: str | Path, model: nn.Module, use_ema: bool = True, *, best: bool = False
) -> nn.Module:
    """Load final weights written by `train` into `model` (EMA weights when `use_ema`).

    With `best`, the best-on-validation raw weights (`train`'s `best_metric`) instead. Refuses,
    naming the file, a file without the wanted weights or whose weights do not fit `model`.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if best:
        entry = payload.get("best") if isinstance(payload, dict) else None
        if not entry or "model" not in entry:
            raise ValueError(
                f"{path}: no best-on-validation weights (written by an older version "
                "that used the last step, or trained without best_metric); delete it and retrain"
            )
        state, what = entry["model"], "best-on-validation"
    else:
        key = "ema" if use_ema else "model"
        if payload.get(key) is None:
            raise ValueError(f"{path} holds no {key!r} weights (trained without EMA?)")
        state, what = payload[key], repr(key)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{path}: the {what} weights do not fit the configured architecture of "
            f"{type(model).__name__} (an old checkpoint format or other settings); delete it "
            f"and retrain. {str(error).splitlines()[0]}"
        ) from error
    return model
