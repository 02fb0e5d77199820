"""Decoding behaviour from neural activity or latents, scored by R² or by an angle error.

- Velocity decoding of LDNS (Kapoor, Schulz et al. 2024): one ridge map rates(t) → hand
  velocity(t) shared by all time bins, scored by sklearn's R² (outputs averaged uniformly);
  trajectories are the cumulative sum of velocity·dt. Arrays are (trials, time, channels) with
  an optional observed-bin mask (`neurodiff.metrics.trial_arrays`).
- R² of BeNeDiff (reference/benediff.md §4): 1 − Σ(y − ŷ)² / Σ(y − ȳ)² per channel, pooled over
  held-out trials and time, then averaged over channels. Behaviour R² decodes the labels from
  the latent means with a ridge regression fitted on training trials (so models without a
  behaviour head are scored the same way). The leakage of the unsupervised dimensions
  (disentanglement beyond MIG, held-out trials) is the same R² from those dimensions alone.
- Angle error: the absolute angular difference in degrees, in [0, 180] (GNOCCHI's end-point
  error of decoded reach trajectories, `neurodiff.models.gnocchi.evaluation`).
- Circular correlation ρ_T (Fisher & Lee 1983) between two sets of angles, e.g. the reach
  angle a sample was conditioned on and the end-point angle of its decoded path
  (`endpoint_angle`): 4(AB − CD) / √((n² − E² − F²)(n² − G² − H²)) with A = Σ cos a cos b,
  B = Σ sin a sin b, C = Σ cos a sin b, D = Σ sin a cos b, E, F = Σ cos 2a, Σ sin 2a and G, H
  the same for b; 1 when b = a + c, −1 when b = −a + c, and needs no mean direction.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from neurodiff.metrics.disentangle import linear_decoding_r2
from neurodiff.metrics.trial_arrays import checked_trials, observed_rows, zero_masked

# ---------------------------------------------------------------------------------------------
# Hand velocity from rates


def _check_velocity(rates: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Velocity as an array shaped (trials, time, K) matching the rates."""
    vel = np.asarray(velocity, dtype=np.float64)
    if vel.ndim != 3 or vel.shape[:2] != rates.shape[:2]:
        raise ValueError(
            f"velocity must be shaped (trials, time, K) with (trials, time) = {rates.shape[:2]}, "
            f"got {vel.shape}"
        )
    return vel


def fit_velocity_decoder(
    rates: np.ndarray,
    velocity: np.ndarray,
    alpha: float = 1e-6,
    mask: np.ndarray | None = None,
) -> Ridge:
    """Ridge map rates(t) → velocity(t), one linear map shared by all time bins.

    LDNS's "ridge per time bin" treats every (trial, bin) as one sample of the same map (the
    decoder is then applied bin by bin to sampled rates); fitting a separate map per bin would
    leave ~2000 samples for 182 inputs and could not decode trials of another length.
    """
    arr, observed = checked_trials(rates, mask, "rates")
    vel = _check_velocity(arr, velocity)
    return Ridge(alpha=alpha).fit(observed_rows(arr, observed), vel[observed])


def predict_velocity(decoder: Ridge, rates: np.ndarray) -> np.ndarray:
    """Decoded velocity (trials, time, K) of every bin."""
    arr, _ = checked_trials(rates, None, "rates")
    flat = decoder.predict(arr.reshape(-1, arr.shape[2]).astype(np.float64))
    return flat.reshape(*arr.shape[:2], -1)


def decoding_r2(
    decoder: Ridge,
    rates: np.ndarray,
    velocity: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """R² (sklearn r2_score, outputs averaged uniformly) of decoded vs true velocity."""
    arr, observed = checked_trials(rates, mask, "rates")
    vel = _check_velocity(arr, velocity)
    predicted = decoder.predict(observed_rows(arr, observed))
    return float(r2_score(vel[observed], predicted))


def endpoint_angle(velocity: np.ndarray, dt: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Angle (rad) of each trial's end point: the path integrated from velocity (trials, T, 2)."""
    paths = trajectories_from_velocity(velocity, dt, mask)
    if paths.shape[2] != 2:
        raise ValueError(f"endpoint_angle needs 2-D velocity (x, y), got {paths.shape[2]} channels")
    return np.arctan2(paths[:, -1, 1], paths[:, -1, 0])


def circular_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Fisher–Lee (1983) circular correlation ρ_T of two equal-length sets of angles (rad).

    In [-1, 1], invariant to rotating either set, 1 when b = a + c and -1 when b = c - a. Unlike
    the Jammalamadaka–SenGupta coefficient it needs no mean direction, which is arbitrary for
    angles spread evenly round the circle (balanced reach conditions), where that coefficient
    swings between -1 and 1 for near-identical angle sets.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(
            f"circular_correlation needs two sets of >= 2 angles, got {a.size}, {b.size}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("circular_correlation: angles must be finite")
    n = a.size
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    numerator = 4 * ((ca * cb).sum() * (sa * sb).sum() - (ca * sb).sum() * (sa * cb).sum())
    spread_a = n**2 - np.cos(2 * a).sum() ** 2 - np.sin(2 * a).sum() ** 2
    spread_b = n**2 - np.cos(2 * b).sum() ** 2 - np.sin(2 * b).sum() ** 2
    if min(spread_a, spread_b) <= 1e-9 * n**2:
        raise ValueError("circular_correlation: one set of angles has no spread")
    return float(numerator / np.sqrt(spread_a * spread_b))


def trajectories_from_velocity(
    velocity: np.ndarray, dt: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """Positions as the cumulative sum of velocity·dt over time (masked bins do not move)."""
    vel, observed = checked_trials(velocity, mask, "velocity")
    return np.cumsum(zero_masked(np.asarray(vel, dtype=np.float64), observed) * dt, axis=1)


# ---------------------------------------------------------------------------------------------
# Reconstruction, behaviour and leakage R² of latents


def r2_per_channel(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """R² per channel (last axis), pooled over all leading axes (trials, time)."""
    truth, prediction = np.asarray(truth, float), np.asarray(prediction, float)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} differ")
    flat_truth = truth.reshape(-1, truth.shape[-1])
    flat_pred = prediction.reshape(-1, truth.shape[-1])
    total = ((flat_truth - flat_truth.mean(axis=0)) ** 2).sum(axis=0)
    if np.any(total == 0):
        raise ValueError(
            f"channels {np.flatnonzero(total == 0).tolist()} are constant: R² is undefined"
        )
    return 1.0 - ((flat_truth - flat_pred) ** 2).sum(axis=0) / total


def behavior_decoding_r2(
    latents: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float = 1e-3,
) -> np.ndarray:
    """Held-out R² per label of a ridge decoder from latents (n, T, K) to labels (n, T, L).

    Fitted on the (trial, time) samples of `train_idx` trials, scored on `test_idx` trials.
    """
    if latents.shape[:2] != labels.shape[:2]:
        raise ValueError(
            f"latents {latents.shape} and labels {labels.shape} need the same (trials, time)"
        )
    n, t = latents.shape[:2]
    rows = np.arange(n * t).reshape(n, t)
    return linear_decoding_r2(
        latents.reshape(n * t, -1),
        labels.reshape(n * t, -1),
        rows[train_idx].ravel(),
        rows[test_idx].ravel(),
        alpha=alpha,
    )


def leakage_r2(
    latents: np.ndarray,
    labels: np.ndarray,
    unsupervised: list[int] | np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float = 1e-3,
) -> np.ndarray:
    """Held-out R² per label of a ridge decoder from the `unsupervised` latent dims alone."""
    unsupervised = np.asarray(unsupervised, dtype=int)
    if unsupervised.size == 0:
        raise ValueError("leakage needs at least one unsupervised latent dim")
    return behavior_decoding_r2(
        latents[..., unsupervised], labels, train_idx, test_idx, alpha=alpha
    )


# ---------------------------------------------------------------------------------------------
# Angle error


def angle_difference_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute angular difference in degrees, in [0, 180]."""
    return np.degrees(np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b))))))
