"""The GNOCCHI experiment: datasets with behavioural factors and unseen conditions; training.

Datasets (tidy files, gnocchi.md §5):
- "reaching" (synthetic): factors cos θ, sin θ and peak speed (m/s) of the reach; the unseen
  conditions are the held-out reach angles of the simulation (`conditions/unseen`, all in the
  "test" split); a condition is one (angle, speed) pair.
- "mc_maze": factors cos θ, sin θ of the reach angle (net hand displacement) and the signed
  curvature of the hand path (largest perpendicular deviation from the start-end chord,
  divided by the chord length; 0 for straight reaches, its sign gives the side of the barrier),
  computed from the hand velocity. Conditions are (trial_type, trial_version) pairs; the
  unseen conditions are those whose circular-mean reach angle lies in `heldout_sector_deg`
  and whose trial_version is in `heldout_trial_versions` (trials of every split).

Trials used: training = split "train" and not unseen; evaluation = splits "val"/"test" and
not unseen (disentanglement metrics); unseen = every trial of an unseen condition (generation
targets, never trained on). Counts may be summed over `rebin` adjacent bins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodiff.data.tidy import TidyDataset, read_tidy
from neurodiff.diffusion import make_schedule, q_sample
from neurodiff.models.baselines.lfads import LFADS, lfads_from_config
from neurodiff.models.gnocchi.model import Gnocchi, gnocchi_from_config
from neurodiff.models.gnocchi.settings import DatasetSettings, TrainSettings
from neurodiff.models.gnocchi.transform import SignalTransform, fit_transform
from neurodiff.train import (
    TrainResult,
    data_digest,
    load_trained,
    reset_stale_run,
    section_config,
    train_on_tensors,
    warmup_cosine,
)

DATASETS = ("reaching", "mc_maze")
# cos/sin of equal angles differ in the last bits (cos 135° vs cos 225°); rounding keeps the
# discretised factors of MIG from splitting one level into several
FACTOR_DECIMALS = 9
MODELS = ("gnocchi", "lfads")
MODEL_LABELS = {"gnocchi": "GNOCCHI", "lfads": "LFADS"}
FACTOR_NAMES = {
    "reaching": ["cos θ", "sin θ", "speed"],
    "mc_maze": ["cos θ", "sin θ", "curvature"],
}


@dataclass
class ExperimentData:
    """One dataset prepared for the GNOCCHI experiment (module docstring)."""

    name: str
    counts: np.ndarray
    velocity: np.ndarray
    bin_size_s: float
    factors: np.ndarray
    factor_names: list[str]
    reach_angle: np.ndarray
    condition: np.ndarray
    split: np.ndarray
    unseen: np.ndarray
    decoder_lag_bins: int
    condition_labels: dict[int, str]

    @property
    def train_idx(self) -> np.ndarray:
        """Training trials: split "train", seen conditions only."""
        return np.flatnonzero((self.split == "train") & ~self.unseen)

    @property
    def val_idx(self) -> np.ndarray:
        """Validation trials (checkpoint selection): split "val", seen conditions only."""
        return np.flatnonzero((self.split == "val") & ~self.unseen)

    @property
    def eval_idx(self) -> np.ndarray:
        """Evaluation trials: splits "val" and "test", seen conditions only."""
        return np.flatnonzero((self.split != "train") & ~self.unseen)

    @property
    def unseen_idx(self) -> np.ndarray:
        """Every trial of an unseen condition."""
        return np.flatnonzero(self.unseen)

    @property
    def n_bins(self) -> int:
        """Time bins per trial."""
        return int(self.counts.shape[1])

    @property
    def n_neurons(self) -> int:
        """Neurons."""
        return int(self.counts.shape[2])


def rebin(array: np.ndarray, factor: int, reduce: str) -> np.ndarray:
    """Combine `factor` adjacent bins of (trials, T, K) by "sum" or "mean" (remainder dropped)."""
    if factor < 1:
        raise ValueError(f"rebin factor must be >= 1, got {factor}")
    n, t, k = array.shape
    usable = (t // factor) * factor
    if usable == 0:
        raise ValueError(f"rebin factor {factor} exceeds the {t} time bins")
    blocks = array[:, :usable].reshape(n, usable // factor, factor, k)
    return blocks.sum(axis=2) if reduce == "sum" else blocks.mean(axis=2)


def circular_mean(angles: np.ndarray) -> float:
    """Mean direction (rad, in (−π, π]) of angles in radians."""
    return float(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()))


def in_sector(angle_rad: float, sector_deg: tuple[float, float]) -> bool:
    """Whether an angle lies in the counter-clockwise sector [lo, hi] (degrees, may wrap)."""
    lo, hi = (v % 360.0 for v in sector_deg)
    deg = math.degrees(angle_rad) % 360.0
    return lo <= deg <= hi if lo <= hi else deg >= lo or deg <= hi


def path_curvature(velocity: np.ndarray, dt: float) -> np.ndarray:
    """Signed largest deviation of each hand path from its chord, over chord length (trials,).

    Positive when the path bulges to the left of the start→end chord (counter-clockwise side).
    """
    position = np.cumsum(velocity * dt, axis=1)
    chord = position[:, -1]
    length = np.linalg.norm(chord, axis=1)
    if np.any(length <= 0):
        raise ValueError("a trial's hand path has zero net displacement: curvature undefined")
    unit = chord / length[:, None]
    deviation = unit[:, None, 0] * position[..., 1] - unit[:, None, 1] * position[..., 0]
    peak = np.abs(deviation).argmax(axis=1)
    return deviation[np.arange(len(deviation)), peak] / length


def maze_unseen(
    ds: TidyDataset, sector_deg: tuple[float, float], versions: list[int]
) -> np.ndarray:
    """Trials of the maze conditions whose mean reach angle is in the sector and version listed."""
    condition = ds.conditions["condition"]
    unseen = np.zeros(ds.n_trials, dtype=bool)
    for label in np.unique(condition):
        members = condition == label
        angle = circular_mean(ds.conditions["reach_angle"][members])
        version = int(ds.conditions["trial_version"][members][0])
        unseen[members] = in_sector(angle, sector_deg) and version in versions
    return unseen


def _require(ds: TidyDataset, path: str | Path, keys: list[str]) -> None:
    """Raise naming the file and key when a needed condition or behaviour is missing."""
    missing = [k for k in keys if k not in ds.conditions]
    if missing:
        raise KeyError(f"{path}: conditions {missing} are missing (needed by GNOCCHI)")
    if ds.behavior is None:
        raise KeyError(f"{path}: 'behavior' (hand velocity) is missing (needed by GNOCCHI)")


def _reaching_parts(ds: TidyDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(third factor, unseen mask, condition ids, condition labels) of the synthetic set."""
    speed_index = ds.conditions["speed_index"].astype(int)
    n_speeds = int(speed_index.max()) + 1
    condition = ds.conditions["angle_index"].astype(int) * n_speeds + speed_index
    labels = {
        int(c): f"{math.degrees(a):.0f}°, {s:g} m/s"
        for c, a, s in zip(
            condition, ds.conditions["reach_angle"], ds.conditions["speed"], strict=True
        )
    }
    return ds.conditions["speed"], ds.conditions["unseen"].astype(bool), condition, labels


def load_experiment_data(path: str | Path, name: str, cfg: DatasetSettings) -> ExperimentData:
    """Read a tidy file and prepare it for the experiment with its dataset settings."""
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is not one of {DATASETS}")
    if name == "mc_maze" and (cfg.heldout_sector_deg is None or cfg.heldout_trial_versions is None):
        raise ValueError(
            "gnocchi.datasets.mc_maze: heldout_sector_deg and heldout_trial_versions are needed"
        )
    ds = read_tidy(path)
    needed = ["reach_angle", "angle_index", "speed", "speed_index", "unseen"]
    if name == "mc_maze":
        needed = ["reach_angle", "condition", "trial_type", "trial_version"]
    _require(ds, path, needed)
    counts = rebin(ds.signals, cfg.rebin, "sum")
    velocity = rebin(ds.behavior, cfg.rebin, "mean")
    bin_size = ds.bin_size_s * cfg.rebin
    angle = np.asarray(ds.conditions["reach_angle"], dtype=float)
    if name == "reaching":
        third, unseen, condition, labels = _reaching_parts(ds)
    else:
        third = path_curvature(velocity, bin_size)
        unseen = maze_unseen(ds, cfg.heldout_sector_deg, list(cfg.heldout_trial_versions))
        condition = ds.conditions["condition"].astype(int)
        labels = {
            int(c): f"maze {t}, v{v}"
            for c, t, v in zip(
                condition, ds.conditions["trial_type"], ds.conditions["trial_version"], strict=True
            )
        }
    data = ExperimentData(
        name=name,
        counts=counts,
        velocity=velocity,
        bin_size_s=bin_size,
        factors=np.round(np.stack([np.cos(angle), np.sin(angle), third], axis=1), FACTOR_DECIMALS),
        factor_names=list(FACTOR_NAMES[name]),
        reach_angle=angle,
        condition=condition,
        split=ds.split,
        unseen=unseen,
        decoder_lag_bins=int(round(cfg.decoder_lag_s / bin_size)),
        condition_labels=labels,
    )
    _check_experiment(data, path)
    return data


def _check_experiment(data: ExperimentData, path: str | Path) -> None:
    """Every group of trials is non-empty and the decoder lag fits in the window."""
    for group in ("train_idx", "val_idx", "eval_idx", "unseen_idx"):
        if getattr(data, group).size < 2:
            raise ValueError(
                f"{path}: fewer than 2 {group.removesuffix('_idx')} trials; check "
                "the held-out conditions and splits in the config"
            )
    if not 0 <= data.decoder_lag_bins < data.n_bins // 2:
        raise ValueError(
            f"{path}: decoder lag of {data.decoder_lag_bins} bins does not fit in "
            f"{data.n_bins} bins"
        )
    if not np.all(np.isfinite(data.velocity)) or not np.all(np.isfinite(data.factors)):
        raise ValueError(f"{path}: behaviour or factors hold non-finite values")


# ---------------------------------------------------------------- models and training


def gnocchi_transform(data: ExperimentData, cfg: DatasetSettings) -> SignalTransform:
    """The diffusion-space transform fitted on the training trials' counts."""
    return fit_transform(cfg.transform, data.counts[data.train_idx], cfg.smooth_sigma_bins)


def build_model(kind: str, data: ExperimentData, model_cfg: Mapping[str, Any]) -> torch.nn.Module:
    """A fresh GNOCCHI or LFADS model sized for the dataset."""
    if kind == "gnocchi":
        return gnocchi_from_config(data.n_neurons, dict(model_cfg))
    if kind == "lfads":
        return lfads_from_config(data.n_neurons, dict(model_cfg))
    raise ValueError(f"model {kind!r} is not one of {MODELS}")


def training_tensors(
    kind: str,
    data: ExperimentData,
    transform: SignalTransform | None,
    rows: np.ndarray | None = None,
) -> torch.Tensor:
    """Model inputs of `rows` (default: the training trials): transformed trials (n, N, T) for
    GNOCCHI, counts (n, T, N) for LFADS."""
    counts = data.counts[data.train_idx if rows is None else rows]
    if kind == "gnocchi":
        if transform is None:
            raise ValueError("GNOCCHI needs the fitted transform")
        return torch.from_numpy(transform.forward(counts))
    return torch.from_numpy(counts.astype(np.float32))


def _loss_fn(kind: str) -> Callable[[torch.nn.Module, Any, int], Any]:
    """The per-batch loss of a model kind, in the signature `train` expects."""
    if kind == "gnocchi":
        return lambda model, batch, step: model.loss(batch[0])
    return lambda model, batch, step: model.loss(batch[0], step)


VALIDATION_METRIC = "val_loss"
VALIDATION_SEED = 12345  # fixed diffusion steps and noise of every validation evaluation


def validation_fn(kind: str, inputs: torch.Tensor) -> Callable[[torch.nn.Module, int], dict]:
    """`eval_fn` of `train`: the loss on the validation trials, the same for every log row.

    GNOCCHI: its full training objective with diffusion steps and noise drawn from a fixed seed
    (the global RNG is forked, so training is unaffected). LFADS: the Poisson reconstruction
    term (its KL weight ramps with the step, so the total is not comparable across steps).
    """

    def evaluate(model: torch.nn.Module, step: int) -> dict[str, float]:
        batch = inputs.to(next(model.parameters()).device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(VALIDATION_SEED)
            if kind == "gnocchi":
                return {VALIDATION_METRIC: float(model.loss(batch)[0])}
            return {VALIDATION_METRIC: float(model.loss(batch, step)[1]["recon"])}

    return evaluate


def train_model(
    kind: str,
    data: ExperimentData,
    model_cfg: Mapping[str, Any],
    train_cfg: TrainSettings,
    seed: int,
    run_dir: str | Path,
    transform: SignalTransform | None = None,
    device: str = "auto",
    progress: bool = True,
) -> TrainResult:
    """Train GNOCCHI or LFADS on the training trials with `train()` (resumes a checkpoint).

    `train_cfg`: steps, batch_size, lr, weight_decay, warmup_steps, grad_clip,
    checkpoint_every, log_every (lengths in steps). AdamW with linear warm-up then cosine
    decay. GNOCCHI trains on
    `transform.forward(counts)`, LFADS on the counts. Both models are selected the same way:
    the weights of the log row (every `log_every` steps) with the lowest validation loss
    (`validation_fn`) are kept (`train`'s `best_metric`) and used by `load_model`.
    """
    inputs = training_tensors(kind, data, transform)
    val_inputs = training_tensors(kind, data, transform, data.val_idx)
    reset_stale_run(
        run_dir,
        {
            "kind": kind,
            "seed": seed,
            "model": dict(model_cfg),
            "train": train_cfg.as_dict(),
            "data": data_digest(inputs),
        },
    )
    torch.manual_seed(seed)
    model = build_model(kind, data, model_cfg)
    config = section_config(
        train_cfg.as_dict(),
        seed,
        device=device,
        progress=progress,
        desc=f"{kind} {data.name} seed {seed}",
        best_metric=VALIDATION_METRIC,
    )
    return train_on_tensors(
        model,
        _loss_fn(kind),
        [inputs],
        min(train_cfg.batch_size, inputs.shape[0]),
        lambda params: torch.optim.AdamW(
            params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
        ),
        config,
        run_dir,
        make_scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(
            o, warmup_cosine(train_cfg.steps, train_cfg.warmup_steps)
        ),
        eval_fn=validation_fn(kind, val_inputs),
    )


def load_model(
    kind: str, data: ExperimentData, model_cfg: Mapping[str, Any], weights: str | Path
) -> Gnocchi | LFADS:
    """A trained model (the best-on-validation raw weights of `train`) in eval mode, on the CPU.

    Refuses, naming the file, weights written before validation selection (no "best" entry) or
    by another architecture (e.g. a GNOCCHI checkpoint from before attention pooling and the
    bin embedding): retrain them (delete the file; Snakemake reruns the training rule).
    """
    return load_trained(weights, build_model(kind, data, model_cfg), best=True).eval()


def builder_settings(kind: str, model: Mapping[str, Any], code_dim: int) -> dict[str, Any]:
    """The builder settings of model `kind` from its `model` mapping (GNOCCHI gets code_dim)."""
    if kind not in MODELS:
        raise ValueError(f"model {kind!r} is not one of {MODELS}")
    settings = dict(model)
    if kind == "gnocchi":
        settings["code_dim"] = code_dim
    return settings


def model_settings(kind: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The model config of `kind` from the raw `gnocchi` config section (`builder_settings`)."""
    return builder_settings(kind, cfg[kind]["model"] if kind in MODELS else {}, cfg["code_dim"])


def example_trial_and_noise(
    data: ExperimentData, data_cfg: DatasetSettings, model_cfg: Mapping[str, Any], seed: int
) -> tuple[np.ndarray, ...]:
    """One transformed training trial (N, T) and its x_t at the middle diffusion step."""
    transform = gnocchi_transform(data, data_cfg)
    x0 = torch.from_numpy(transform.forward(data.counts[data.train_idx[:1]]))
    schedule = make_schedule(**model_cfg["schedule"])
    t = torch.tensor([schedule.num_train_timesteps // 2])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    return x0[0].numpy(), q_sample(schedule, x0, t, noise)[0].numpy()


def shape_summary(data: ExperimentData) -> str:
    """'N neurons × T bins of B ms' of a prepared dataset."""
    return f"{data.n_neurons} neurons × {data.n_bins} bins of {data.bin_size_s * 1000:g} ms"
