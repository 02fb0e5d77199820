"""Agreement between the spike statistics of data and of model samples, as Pearson r.

LDNS reports, for its Lorenz experiment (Fig. 2, reference/ldns.md §1), the Pearson correlation
between ground truth and LDNS samples of four statistics:

- ``mean_isi`` and ``std_isi``: per-neuron mean and std of inter-spike intervals (one point per
  neuron, neurons without two intervals on either side dropped);
- ``correlations``: pairwise correlations between neurons (one point per pair i > j);
- ``psch_density``: the Gaussian KDE of the population spike count on 0..max count (one point per
  count value, the grid running to the largest count of either set).

For its length generalisation (samples longer than the training trials), how far the latent
range and PSD of the long samples drift from those of training-length samples
(`latent_length_generalisation`), and how much of the drift is power at high frequencies
(`high_frequency_power_ratio`).
"""

from __future__ import annotations

import numpy as np
from scipy import signal, stats

from neurodiff.metrics.spikes import (
    correlation_matrix,
    isi_stats,
    lower_triangle_pairs,
    psch_kl,
    temporal_correlations,
)

MIN_POINTS = 3  # Pearson r of fewer points is not informative
AUTOCOVARIANCE_LAGS = 10  # bins; LDNS issue 14: spike-history samples within 25 % at lags 1–10


def pearson_r(x: np.ndarray, y: np.ndarray, name: str) -> float:
    """Pearson r over the points where both are finite; raises naming the statistic if undefined."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{name}: data has {x.size} values but the model has {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < MIN_POINTS or np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError(
            f"{name}: Pearson r needs >= {MIN_POINTS} finite points that vary on both sides, "
            f"got {x.size} point(s)"
        )
    return float(stats.pearsonr(x, y)[0])


def spike_statistics_pearson(
    data: np.ndarray,
    model: np.ndarray,
    fps: float,
    data_mask: np.ndarray | None = None,
    model_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Pearson r (data vs model) of mean ISI, std ISI, pairwise correlations and count KDE."""
    data_isi = isi_stats(data, fps, data_mask)
    model_isi = isi_stats(model, fps, model_mask)
    psch = psch_kl(model, data, model_mask=model_mask, data_mask=data_mask)
    pairs = {
        "mean_isi": (data_isi.mean, model_isi.mean),
        "std_isi": (data_isi.std, model_isi.std),
        "correlations": (
            lower_triangle_pairs(correlation_matrix(data, data_mask)),
            lower_triangle_pairs(correlation_matrix(model, model_mask)),
        ),
        "psch_density": (psch.data_density, psch.model_density),
    }
    return {name: pearson_r(x, y, name) for name, (x, y) in pairs.items()}


def latent_length_generalisation(
    short: np.ndarray, long: np.ndarray, quantiles: tuple[float, float] = (0.01, 0.99)
) -> dict[str, float]:
    """How far samples longer than training drift from training-length samples, per latent.

    `short` (trials, latents, L) and `long` (trials, latents, k·L) are latent samples. Range:
    the spread between `quantiles` of each latent over all trials and bins; `max_range_deviation`
    is the largest |range_long / range_short − 1| over latents. PSD: Welch periodograms with
    segments of the training length L (Hann window, mean over trials and segments), so both sets
    share one frequency grid; `max_psd_deviation` is the largest Σ_f |P_long − P_short| / Σ_f
    P_short over latents. 0 means the long samples keep the training-length statistics.
    """
    short, long = _checked_latent_pair(short, long)
    length = short.shape[-1]

    def spread(x: np.ndarray) -> np.ndarray:
        lo, hi = np.quantile(x.transpose(1, 0, 2).reshape(x.shape[1], -1), quantiles, axis=1)
        return hi - lo

    range_ratio = spread(long) / spread(short)
    _, p_short = _mean_periodogram(short, length)
    _, p_long = _mean_periodogram(long, length)
    psd_dev = np.abs(p_long - p_short).sum(axis=1) / p_short.sum(axis=1)
    return {
        "max_range_deviation": float(np.max(np.abs(range_ratio - 1))),
        "max_psd_deviation": float(np.max(psd_dev)),
        "range_ratio_min": float(range_ratio.min()),
        "range_ratio_max": float(range_ratio.max()),
    }


def _checked_latent_pair(short: np.ndarray, long: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sample sets as float64 (trials, latents, time) with equal latents, long ≥ short."""
    short, long = np.asarray(short, dtype=np.float64), np.asarray(long, dtype=np.float64)
    if short.ndim != 3 or long.ndim != 3 or short.shape[1] != long.shape[1]:
        raise ValueError(
            f"latent samples must be (trials, latents, time) with equal latents, got "
            f"{short.shape} and {long.shape}"
        )
    if long.shape[-1] < short.shape[-1]:
        raise ValueError(
            f"long samples ({long.shape[-1]} bins) are shorter than {short.shape[-1]} bins"
        )
    return short, long


def _mean_periodogram(x: np.ndarray, segment: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (cycles/bin) and Welch PSD (latents, frequencies) of `segment`-bin Hann
    segments of x (trials, latents, time), averaged over trials and segments."""
    frequencies, power = signal.welch(x, nperseg=segment, axis=-1)
    return frequencies, power.mean(axis=0)


def high_frequency_power_ratio(short: np.ndarray, long: np.ndarray, min_frequency: float) -> float:
    """Power at frequencies ≥ `min_frequency` (cycles/bin), long over training-length samples.

    Welch periodograms as `latent_length_generalisation` (segments of the training length),
    summed over latents and those frequencies. 1 means the long samples carry as much fast
    fluctuation as the training-length ones; > 1 that they keep noise the denoising left.
    """
    short, long = _checked_latent_pair(short, long)
    frequencies, p_short = _mean_periodogram(short, short.shape[-1])
    _, p_long = _mean_periodogram(long, short.shape[-1])
    band = frequencies >= min_frequency
    if not band.any():
        raise ValueError(
            f"min_frequency {min_frequency} is above the Nyquist frequency 0.5 cycles/bin"
        )
    return float(p_long[:, band].sum() / p_short[:, band].sum())


def _split_halves(n_trials: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Trial indices of two random disjoint halves (of equal size) of n_trials trials."""
    if n_trials < 4:
        raise ValueError(f"split halves need at least 4 trials, got {n_trials}")
    order = np.random.default_rng(seed).permutation(n_trials)
    half = n_trials // 2
    return order[:half], order[half : 2 * half]


def split_half_correlations(data: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise correlations (pairs i > j) of two random disjoint halves of the trials."""
    return tuple(
        lower_triangle_pairs(correlation_matrix(data[rows]))
        for rows in _split_halves(len(data), seed)
    )


def autocovariance_ratio(
    spikes: np.ndarray, data: np.ndarray, max_lag: int = AUTOCOVARIANCE_LAGS
) -> float:
    """Single-neuron auto-covariance of `spikes` summed over lags 1..max_lag, over the data's.

    Both (trials, time, neurons); each trial's mean is removed and all neurons are pooled
    (`metrics.spikes.temporal_correlations`). 1 when the samples' short-lag temporal structure
    matches the data's, above 1 for bursting samples, near 0 for samples without it; NaN when
    the data have no positive short-lag auto-covariance (nothing to match).
    """
    everyone = [np.arange(np.shape(data)[2])]
    lags = slice(max_lag + 1, None)  # the one-sided lags 1..max_lag of the symmetric output
    model = temporal_correlations(spikes, everyone, max_lag).auto[0, lags].sum()
    reference = temporal_correlations(data, everyone, max_lag).auto[0, lags].sum()
    return float(model / reference) if reference > 0 else np.nan


def correlation_agreement(
    data: np.ndarray, samples: dict[str, np.ndarray], seed: int
) -> list[dict[str, float | str | int]]:
    """How well each sample set's pairwise correlations follow the data's, beside the data's own.

    data and samples (trials, time, neurons). Rows: two random halves of the data against each
    other (their Pearson r is the reliability ρ of half-size estimates); a perfect model with as
    many trials as the data, whose r the Spearman–Brown formula 2ρ/(1+ρ) predicts from the halves
    (the ceiling); then every sample set against the full data. Columns: compared, trials,
    pearson_r and rmse_pairs (both over the pairs i > j; Table 1 takes the full N×N matrix),
    autocov_ratio (`autocovariance_ratio` against the full data; the halves row: one half
    against the other) and autocov_deviation = |autocov_ratio − 1|.
    """
    first, second = _split_halves(len(data), seed)
    half_a, half_b = split_half_correlations(data, seed)
    rho = pearson_r(half_a, half_b, "data halves")
    halves_ratio = autocovariance_ratio(data[second], data[first])
    rows = [
        {
            "compared": "data: random half vs the other half",
            "trials": len(data) // 2,
            "pearson_r": rho,
            "rmse_pairs": float(np.sqrt(np.nanmean((half_a - half_b) ** 2))),
            "autocov_ratio": halves_ratio,
            "autocov_deviation": abs(halves_ratio - 1),
        },
        {
            "compared": "data: a perfect model of as many trials (Spearman–Brown)",
            "trials": len(data),
            "pearson_r": 2 * rho / (1 + rho),
            "rmse_pairs": np.nan,
            "autocov_ratio": np.nan,
            "autocov_deviation": np.nan,
        },
    ]
    reference = lower_triangle_pairs(correlation_matrix(data))
    for name, spikes in samples.items():
        pairs = lower_triangle_pairs(correlation_matrix(spikes))
        ratio = autocovariance_ratio(spikes, data)
        rows.append(
            {
                "compared": name,
                "trials": len(spikes),
                "pearson_r": pearson_r(reference, pairs, name),
                "rmse_pairs": float(np.sqrt(np.nanmean((pairs - reference) ** 2))),
                "autocov_ratio": ratio,
                "autocov_deviation": abs(ratio - 1),
            }
        )
    return rows
