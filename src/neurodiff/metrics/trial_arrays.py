"""Input checks shared by the metrics of trial arrays shaped (trials, time, channels).

An optional boolean mask shaped (trials, time) is True where a bin is observed (variable-length
trials). Masked bins are excluded: they add no samples, no spikes and no signal, whatever values
they hold. Used by `neurodiff.metrics.spikes`, `.decoding` and `.resampling`.
"""

from __future__ import annotations

import numpy as np


def checked_trials(
    spikes: np.ndarray, mask: np.ndarray | None, name: str = "spikes"
) -> tuple[np.ndarray, np.ndarray]:
    """The spikes as an array and the mask as booleans, both shape-checked."""
    arr = np.asarray(spikes)
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be shaped (trials, time, neurons), got shape {arr.shape}")
    if mask is None:
        return arr, np.ones(arr.shape[:2], dtype=bool)
    observed = np.asarray(mask)
    if observed.shape != arr.shape[:2]:
        raise ValueError(
            f"mask of {name} must be shaped (trials, time) = {arr.shape[:2]}, got {observed.shape}"
        )
    if observed.dtype != bool and not np.isin(observed, (0, 1)).all():
        raise ValueError(f"mask of {name} must be boolean (or 0/1), got dtype {observed.dtype}")
    return arr, observed.astype(bool)


def zero_masked(arr: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The array with every masked bin set to 0 (no copy when nothing is masked)."""
    if observed.all():
        return arr
    return np.where(observed[..., None], arr, 0)


def observed_rows(arr: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The observed (trial, bin) rows of a (trials, time, channels) array, as float64."""
    return np.asarray(arr[observed], dtype=np.float64)
