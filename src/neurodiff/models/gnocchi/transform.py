"""Continuous transforms of spike counts for Gaussian diffusion, and their inverses.

GNOCCHI diffuses a continuous version of the spikes (gnocchi.md §4, a config switch):
- "smoothed_zscore": counts smoothed in time with a Gaussian of σ = `smooth_sigma_bins`
  (normalised convolution, `neurodiff.metrics.spikes.smooth_spikes`), then z-scored per neuron;
- "sqrt": the Anscombe transform y = 2·√(counts + 3/8), then z-scored per neuron.
The per-neuron mean and standard deviation come from the training trials only (`fit`).

`inverse` maps model outputs back to rates in expected counts per bin, clipped at 0: for
"smoothed_zscore" the smoothed count, for "sqrt" the algebraic inverse (y/2)² − 3/8, so that
inverse(forward(counts)) returns the counts exactly. Spikes are drawn as Poisson(rates).
Layouts: counts and rates are (trials, T, N) like the tidy files; the model side is (trials, N, T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurodiff.metrics.spikes import smooth_spikes

TRANSFORM_KINDS = ("smoothed_zscore", "sqrt")
ANSCOMBE_SHIFT = 3.0 / 8.0
MIN_STD = 1e-6


@dataclass(frozen=True)
class SignalTransform:
    """A fitted transform counts (n, T, N) ↔ model space (n, N, T) (module docstring)."""

    kind: str
    smooth_sigma_bins: float
    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        if self.kind not in TRANSFORM_KINDS:
            raise ValueError(f"transform kind {self.kind!r} is not one of {TRANSFORM_KINDS}")
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(
                f"transform mean {self.mean.shape} and std {self.std.shape} must "
                "be matching 1-D per-neuron arrays"
            )

    def _pre(self, counts: np.ndarray) -> np.ndarray:
        """The untransformed-scale signal before z-scoring (trials, T, N)."""
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 3:
            raise ValueError(f"counts must be (trials, time, neurons), got {counts.shape}")
        if np.any(counts < 0) or not np.all(np.isfinite(counts)):
            raise ValueError("counts must be finite and non-negative")
        if self.kind == "sqrt":
            return 2.0 * np.sqrt(counts + ANSCOMBE_SHIFT)
        return smooth_spikes(counts, self.smooth_sigma_bins)

    def forward(self, counts: np.ndarray) -> np.ndarray:
        """Model-space signal (trials, N, T), float32."""
        pre = self._pre(counts)
        if pre.shape[2] != self.mean.size:
            raise ValueError(
                f"counts have {pre.shape[2]} neurons, the transform was fitted on {self.mean.size}"
            )
        return ((pre - self.mean) / self.std).transpose(0, 2, 1).astype(np.float32)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Rates (trials, T, N) in expected counts per bin, clipped at 0, from model space."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1] != self.mean.size:
            raise ValueError(
                f"model-space input must be (trials, {self.mean.size}, time), got {x.shape}"
            )
        pre = x.transpose(0, 2, 1) * self.std + self.mean
        if self.kind == "sqrt":
            pre = (pre / 2.0) ** 2 - ANSCOMBE_SHIFT
        return np.clip(pre, 0.0, None)

    def smooth(self, counts_or_rates: np.ndarray) -> np.ndarray:
        """Counts or rates (trials, T, N) smoothed with this transform's σ (for decoders, PSTHs)."""
        return smooth_spikes(np.asarray(counts_or_rates, dtype=np.float64), self.smooth_sigma_bins)


def fit_transform(kind: str, counts: np.ndarray, smooth_sigma_bins: float) -> SignalTransform:
    """A transform whose per-neuron z-scoring uses the statistics of `counts` (training trials)."""
    if smooth_sigma_bins <= 0:
        raise ValueError(f"smooth_sigma_bins must be > 0, got {smooth_sigma_bins}")
    neutral = SignalTransform(kind, smooth_sigma_bins, np.zeros(1), np.ones(1))
    pre = neutral._pre(counts).reshape(-1, np.shape(counts)[2])
    return SignalTransform(
        kind, smooth_sigma_bins, pre.mean(axis=0), np.maximum(pre.std(axis=0), MIN_STD)
    )
