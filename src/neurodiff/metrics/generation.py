"""Specificity of guided generation: does guiding one factor move its own label the most?

BeNeDiff (reference/benediff.md §4) compares the variance over time of each label decoded from
generated videos, guided versus unguided:

    ratio_j = mean_n Var_t(label_j | guided) / mean_n Var_t(label_j | unguided)
    specificity_k = ratio_k / mean_{j≠k} ratio_j          (k = the activated factor's label)

specificity_k > 1 means activating factor k moved its own label more than the others.
"""

from __future__ import annotations

import numpy as np


def temporal_variance(trajectories: np.ndarray) -> np.ndarray:
    """Variance over time of each trajectory: (..., T, K) → (..., K)."""
    return np.var(np.asarray(trajectories, float), axis=-2)


def variance_ratios(guided: np.ndarray, unguided: np.ndarray) -> np.ndarray:
    """Per label: mean over samples of Var_t under guidance / the same without, (K,)."""
    if guided.ndim != 3 or unguided.ndim != 3 or guided.shape[2] != unguided.shape[2]:
        raise ValueError(
            f"guided {guided.shape} and unguided {unguided.shape} must be "
            "(samples, T, K) with the same K"
        )
    baseline = temporal_variance(unguided).mean(axis=0)
    if np.any(baseline <= 0):
        raise ValueError(
            f"unguided labels {np.flatnonzero(baseline <= 0).tolist()} never vary "
            "over time: the variance ratio is undefined"
        )
    return temporal_variance(guided).mean(axis=0) / baseline


def guidance_specificity(ratios: np.ndarray, target: int) -> float:
    """ratio of the target label over the mean ratio of the other labels (module docstring)."""
    ratios = np.asarray(ratios, float)
    if ratios.ndim != 1 or ratios.size < 2 or not 0 <= target < ratios.size:
        raise ValueError(
            f"need >= 2 ratios and a target index in range, got {ratios.shape} and target={target}"
        )
    return float(ratios[target] / np.delete(ratios, target).mean())
