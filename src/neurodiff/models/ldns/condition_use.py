"""Does a conditional LDNS denoiser use its condition? A paired ablation on clean latents.

For trials with their own condition c_i, the denoiser is evaluated at the same diffusion steps
and noises twice: with c_i and with another trial's condition (a derangement of the trials, so
no trial keeps its own). A model that ignores the condition scores the same both ways (gain 0).
The x̂₀ error is reported beside the ε error because ε-errors shrink by ᾱ/(1−ᾱ) at high noise,
where the condition matters most. `linear_ceiling` says how much of the clean latents a ridge
map from the condition explains on held-out trials: the scale a used condition is measured on.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import Ridge
from torch import nn

from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion import NoiseSchedule
from neurodiff.diffusion.objective import predict_x0, q_sample
from neurodiff.models.ldns.generate import EncodedData, denoiser_inputs
from neurodiff.models.ldns.settings import BehaviorSettings, DenoiserSettings

ALL_STEPS = "all"
CEILING = "ridge condition → latents (pure-noise scale)"
SPLITS = ("train", "test")


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of range(n) without fixed points (n ≥ 2): a shifted random cycle."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 trials, got {n}")
    order = torch.randperm(n, generator=generator)
    target = torch.empty_like(order)
    target[order] = order.roll(-1)
    return target


def _select(cond: Mapping[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    return {key: value[rows] for key, value in cond.items()}


@torch.no_grad()
def condition_use_table(
    denoiser: nn.Module,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    cond: Mapping[str, torch.Tensor],
    *,
    seed: int,
    n_bands: int = 4,
    steps_per_band: int = 5,
    batch_size: int = 256,
) -> pd.DataFrame:
    """ε- and x̂₀-MSE with each trial's own vs a deranged condition, per band of diffusion steps.

    x0 (n, C, L) normalised clean latents, `cond` the denoiser's condition tensors (first axis
    = trials). Returns one row per band of t (evenly spaced steps inside it) and a row "all":
    columns steps, eps_mse_own, eps_mse_shuffled, x0_mse_own, x0_mse_shuffled, x0_gain
    (= 1 − own/shuffled: 0 when the condition is ignored).
    """
    n = len(x0)
    generator = torch.Generator().manual_seed(seed)
    other = derangement(n, generator)
    total = schedule.num_train_timesteps
    edges = np.linspace(0, total, n_bands + 1).round().astype(int)
    device = next(denoiser.parameters()).device
    sums: dict[str, np.ndarray] = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        steps = np.unique(np.linspace(lo, hi - 1, steps_per_band).round().astype(int))
        acc = np.zeros(4)
        for step in steps:
            noise = torch.randn(x0.shape, generator=generator)
            for start in range(0, n, batch_size):
                rows = torch.arange(start, min(start + batch_size, n))
                clean, eps = x0[rows].to(device), noise[rows].to(device)
                t = torch.full((len(rows),), int(step), dtype=torch.long, device=device)
                x_t = q_sample(schedule, clean, t, eps)
                for k, cond_rows in enumerate((rows, other[rows])):
                    c = {key: v.to(device) for key, v in _select(cond, cond_rows).items()}
                    eps_hat = denoiser(x_t, t, c)
                    x0_hat = predict_x0(schedule, x_t, t, eps_hat)
                    acc[k] += float(((eps_hat - eps) ** 2).mean(dim=(1, 2)).sum())
                    acc[2 + k] += float(((x0_hat - clean) ** 2).mean(dim=(1, 2)).sum())
        sums[f"t {lo}–{hi - 1}"] = np.append(acc / (n * len(steps)), len(steps))
    records = []
    for name, values in [*sums.items(), (ALL_STEPS, np.mean(list(sums.values()), axis=0))]:
        eps_own, eps_other, x0_own, x0_other, _ = values
        records.append(
            {
                "steps": name,
                "eps_mse_own": eps_own,
                "eps_mse_shuffled": eps_other,
                "x0_mse_own": x0_own,
                "x0_mse_shuffled": x0_other,
                "x0_gain": 1.0 - x0_own / x0_other,
            }
        )
    return pd.DataFrame.from_records(records)


def linear_ceiling(
    cond_train: np.ndarray,
    x0_train: np.ndarray,
    cond_test: np.ndarray,
    x0_test: np.ndarray,
    *,
    seed: int,
    alpha: float = 1.0,
) -> dict[str, float]:
    """How far a ridge map condition → clean latents (flattened per trial) gets on held-out trials.

    r2: the fraction of the held-out latents' variance about the training mean it predicts;
    x0_gain: 1 − its error with each trial's own condition / with a deranged one, the scale of
    `condition_use_table`'s x0_gain at pure noise (where x̂₀ can only come from the condition).
    """
    features = [
        np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (cond_train, cond_test)
    ]
    targets = [np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (x0_train, x0_test)]
    model = Ridge(alpha=alpha).fit(features[0], targets[0])
    own = ((model.predict(features[1]) - targets[1]) ** 2).sum()
    other = derangement(len(features[1]), torch.Generator().manual_seed(seed)).numpy()
    shuffled = ((model.predict(features[1][other]) - targets[1]) ** 2).sum()
    spread = ((targets[1] - targets[0].mean(axis=0)) ** 2).sum()
    return {"r2": float(1.0 - own / spread), "x0_gain": float(1.0 - own / shuffled)}


def angle_features(angle: np.ndarray) -> np.ndarray:
    """(cos θ, sin θ) per trial: the angle model's condition as regression features."""
    angle = np.asarray(angle, dtype=np.float64)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def _features(settings: DenoiserSettings, cond: Mapping[str, torch.Tensor]) -> np.ndarray:
    if settings.conditioning == "angle":
        return angle_features(cond["angle"].numpy())
    return cond["velocity"].numpy()


def condition_use_report(
    models: Mapping[str, tuple[nn.Module, DenoiserSettings]],
    encoded: EncodedData,
    ds: TidyDataset,
    behavior: BehaviorSettings,
    schedule: NoiseSchedule,
    seed: int,
) -> pd.DataFrame:
    """`condition_use_table` of each conditional model on its training and test trials, and the
    ridge ceiling (fitted on training, scored on test trials) beside them.

    Columns: model, trials, steps, eps_mse_own, eps_mse_shuffled, x0_mse_own, x0_mse_shuffled,
    x0_gain, ridge_r2 (ceiling rows only).
    """
    frames = []
    for name, (denoiser, settings) in models.items():
        inputs = {s: denoiser_inputs(encoded, ds, settings, behavior, s) for s in SPLITS}
        for split, data in inputs.items():
            table = condition_use_table(denoiser, schedule, data.x0, data.cond, seed=seed)
            frames.append(table.assign(model=name, trials=f"{split} ({len(data.x0)})"))
        train, test = inputs["train"], inputs["test"]
        ceiling = linear_ceiling(
            _features(settings, train.cond),
            train.x0.numpy(),
            _features(settings, test.cond),
            test.x0.numpy(),
            seed=seed,
        )
        row = {"model": name, "trials": f"test ({len(test.x0)})", "steps": CEILING}
        frames.append(
            pd.DataFrame([row | {"x0_gain": ceiling["x0_gain"], "ridge_r2": ceiling["r2"]}])
        )
    table = pd.concat(frames, ignore_index=True)
    columns = ["model", "trials", "steps", "eps_mse_own", "eps_mse_shuffled", "x0_mse_own"]
    return table.reindex(columns=[*columns, "x0_mse_shuffled", "x0_gain", "ridge_r2"])
