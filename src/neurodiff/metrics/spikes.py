"""Spike-train statistics, written from their definitions: LDNS's and GNOCCHI's.

The statistics of LDNS (Kapoor, Schulz et al. 2024) take spikes shaped (trials, time, neurons)
and an optional boolean mask shaped (trials, time) that is True where a bin is observed
(variable-length trials). Masked bins are excluded: they add no samples, no spikes and no
signal, whatever values they hold (`neurodiff.metrics.trial_arrays`). Their bootstrap folds are
in `neurodiff.metrics.resampling`, the velocity decoding in `neurodiff.metrics.decoding`.

Table 1 of the paper (MC_Maze, 5 bootstrap resamples) uses four numbers:

- ``kl_psch``: KL(model ‖ data) between Gaussian KDEs (Scott bandwidth) of the population spike
  count per (trial, bin), evaluated on the integers 0..max_count and normalised to sum 1.
- ``rmse_corr``: RMSE between the lower triangles of the two neuron-by-neuron correlation
  matrices, averaged over the **full** N×N matrix. The diagonal and upper triangle are zeros in
  both, so the mean runs over N² entries of which only N(N−1)/2 differ: the value is
  √((N−1)/(2N)) ≈ 0.71 times the RMSE over pairs. At 5 ms bins pairwise correlations are
  ~0.01 and each is estimated with sampling noise ≈ 1/√(bins): two independent halves of
  MC_Maze (2 × 140 560 bins) differ by ≈ 0.71·√(2/140 560) ≈ 0.0027 from noise alone, and a
  model vs the full data by ≈ 0.002 (independent Poisson simulation at MC_Maze size). The
  metric sits near this noise floor, hence the values ≈ 0.0025 of Table 1.
- ``rmse_mean_isi`` and ``rmse_std_isi``: RMSE over neurons of the per-neuron mean and standard
  deviation of inter-spike intervals (s), pooled across trials, NaN neurons ignored.

GNOCCHI's unseen-condition scores (`neurodiff.models.gnocchi.evaluation`) add two:

- ``psth_r2``: R² of model vs data condition-mean PSTHs (conditions, time, neurons) over
  conditions × time, pooled over neurons (variance-weighted);
- ``fano_factors``: per-neuron Fano factor (variance / mean, ddof 1) of trial spike counts
  within each condition, averaged over conditions.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
from scipy import fft, signal, special, stats
from scipy.ndimage import gaussian_filter1d
from sklearn.decomposition import PCA
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from neurodiff.metrics.trial_arrays import checked_trials, observed_rows, zero_masked

TRIAL_CHUNK = 256  # trials per block in the accumulating loops (bounds memory at full size)
GAUSSIAN_HALF_WIDTH = 4.0  # smoothing window = ±4σ, i.e. 8σ wide


class PschComparison(NamedTuple):
    """KL(model ‖ data) of population spike count densities, with the densities for plotting."""

    kl: float
    counts: np.ndarray
    model_density: np.ndarray
    data_density: np.ndarray


class CorrelationComparison(NamedTuple):
    """RMSE of correlation matrices, with the pairwise correlations (i > j) for scatter plots."""

    rmse: float
    model_pairs: np.ndarray
    data_pairs: np.ndarray


class IsiStats(NamedTuple):
    """Per-neuron mean and standard deviation of inter-spike intervals (s)."""

    mean: np.ndarray
    std: np.ndarray


class TemporalCorrelations(NamedTuple):
    """Auto- and cross-correlation per neuron group, shaped (groups, lags)."""

    lags: np.ndarray
    auto: np.ndarray
    cross: np.ndarray


class PsdSummary(NamedTuple):
    """Median and quantiles across trials of per-trial power spectral densities."""

    freqs: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class PcaProjection(NamedTuple):
    """Data and model projected on the principal components of the data (NaN at masked bins)."""

    data: np.ndarray
    model: np.ndarray
    explained_variance_ratio: np.ndarray


# ---------------------------------------------------------------------------------------------
# Input checks


def _observed_counts(spikes: np.ndarray, mask: np.ndarray | None, name: str) -> np.ndarray:
    """Integer spike counts with masked bins zeroed; raises on negative or fractional counts."""
    arr, observed = checked_trials(spikes, mask, name)
    counts = zero_masked(arr, observed)
    if not np.issubdtype(counts.dtype, np.integer):
        if not np.isfinite(counts).all() or not np.array_equal(counts, np.round(counts)):
            raise ValueError(f"{name} must hold whole spike counts in observed bins")
        counts = counts.astype(np.int64)
    if (counts < 0).any():
        raise ValueError(f"{name} holds negative spike counts in observed bins")
    return counts


def _nan_rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean squared difference, ignoring entries where either side is NaN."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if np.isnan(diff).all():
        return float("nan")
    return float(np.sqrt(np.nanmean(diff**2)))


# ---------------------------------------------------------------------------------------------
# Population spike count histogram


def population_counts(spikes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Spikes summed over neurons, one value per observed (trial, bin)."""
    arr, observed = checked_trials(spikes, mask)
    return np.asarray(arr.sum(axis=2)[observed], dtype=np.float64)


def count_log_density(pop_counts: np.ndarray, max_count: int) -> np.ndarray:
    """Log of the Gaussian KDE (Scott bandwidth) of population counts on 0..max_count, normalised.

    Computed in log space so that far tails do not underflow to 0.

    Far from every count the KDE is below the smallest float64 (beyond ~38 bandwidths); a
    density of exactly 0 there would make KL(model ‖ data) infinite whenever one method's counts
    reach that far, although the exact value is finite.
    """
    values = np.asarray(pop_counts, dtype=np.float64).ravel()
    if values.size < 2 or np.ptp(values) == 0:
        raise ValueError(
            "a KDE of population counts needs at least two distinct values, "
            f"got {values.size} value(s) spanning {np.ptp(values) if values.size else 0}"
        )
    if max_count < 0:
        raise ValueError(f"max_count must be >= 0, got {max_count}")
    log_density = stats.gaussian_kde(values, bw_method="scott").logpdf(np.arange(max_count + 1))
    return log_density - special.logsumexp(log_density)


def kl_divergence_log(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """KL(p ‖ q) = Σ p·(log p − log q) from log densities (finite wherever log q is)."""
    log_p = np.asarray(log_p, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    if log_p.shape != log_q.shape:
        raise ValueError(f"densities differ in shape: p {log_p.shape}, q {log_q.shape}")
    with np.errstate(invalid="ignore"):
        terms = np.exp(log_p) * (log_p - log_q)
    return float(np.nansum(terms))


def psch_kl(
    model_spikes: np.ndarray,
    data_spikes: np.ndarray,
    max_count: int | None = None,
    model_mask: np.ndarray | None = None,
    data_mask: np.ndarray | None = None,
) -> PschComparison:
    """KL(model ‖ data) of population spike count KDEs on 0..max_count (default: largest seen)."""
    model_counts = population_counts(model_spikes, model_mask)
    data_counts = population_counts(data_spikes, data_mask)
    if max_count is None:
        max_count = int(max(model_counts.max(), data_counts.max()))
    log_p = count_log_density(model_counts, max_count)
    log_q = count_log_density(data_counts, max_count)
    return PschComparison(
        kl_divergence_log(log_p, log_q), np.arange(max_count + 1), np.exp(log_p), np.exp(log_q)
    )


# ---------------------------------------------------------------------------------------------
# Pairwise correlations


def correlation_matrix(spikes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlations between neurons over all observed (trial, bin) samples, diagonal 0.

    Equal to `np.corrcoef` of the concatenated trials, accumulated in blocks of trials so the
    full MC_Maze array is never copied; silent neurons give NaN rows.
    """
    arr, observed = checked_trials(spikes, mask)
    n_neurons = arr.shape[2]
    total = np.zeros(n_neurons)
    gram = np.zeros((n_neurons, n_neurons))
    n_samples = 0
    for start in range(0, arr.shape[0], TRIAL_CHUNK):
        block = slice(start, start + TRIAL_CHUNK)
        rows = observed_rows(arr[block], observed[block])
        total += rows.sum(axis=0)
        gram += rows.T @ rows
        n_samples += rows.shape[0]
    if n_samples < 2:
        raise ValueError(f"correlations need at least 2 observed bins, got {n_samples}")
    mean = total / n_samples
    cov = gram / n_samples - np.outer(mean, mean)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.clip(cov / np.outer(sd, sd), -1.0, 1.0)
    corr[(sd == 0)[:, None] | (sd == 0)[None, :]] = np.nan
    np.fill_diagonal(corr, 0.0)
    return corr


def rmse_lower_triangle(model_corr: np.ndarray, data_corr: np.ndarray) -> float:
    """RMSE over the full N×N matrices after zeroing the diagonal and upper triangle."""
    if model_corr.shape != data_corr.shape:
        raise ValueError(
            f"correlation matrices differ in shape: {model_corr.shape} vs {data_corr.shape}"
        )
    return _nan_rmse(np.tril(model_corr, k=-1), np.tril(data_corr, k=-1))


def lower_triangle_pairs(corr: np.ndarray) -> np.ndarray:
    """The pairwise correlations corr[i, j] with i > j, as a vector."""
    return corr[np.tril_indices(corr.shape[0], k=-1)]


def rmse_correlations(
    model_spikes: np.ndarray,
    data_spikes: np.ndarray,
    model_mask: np.ndarray | None = None,
    data_mask: np.ndarray | None = None,
) -> CorrelationComparison:
    """RMSE of pairwise correlations over the full N×N matrix (LDNS Table 1), plus the pairs."""
    model_corr = correlation_matrix(model_spikes, model_mask)
    data_corr = correlation_matrix(data_spikes, data_mask)
    return CorrelationComparison(
        rmse_lower_triangle(model_corr, data_corr),
        lower_triangle_pairs(model_corr),
        lower_triangle_pairs(data_corr),
    )


# ---------------------------------------------------------------------------------------------
# Inter-spike intervals


def _within_bin_times(bins: np.ndarray, counts: np.ndarray, fps: float) -> np.ndarray:
    """Times of counts[i] spikes spaced evenly inside bin bins[i]: (t + j/(k+1))/fps, j=1..k."""
    first = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(first.size) - first + 1
    return (np.repeat(bins, counts) + rank / np.repeat(counts + 1, counts)) / fps


def isi_stats(spikes: np.ndarray, fps: float, mask: np.ndarray | None = None) -> IsiStats:
    """Per-neuron mean and std (ddof 0) of ISIs pooled across trials; NaN without any ISI.

    A neuron has statistics as soon as it has one ISI (std 0 then), as in the authors' code.

    Intervals are taken within trials only. Vectorised: all spikes are laid out neuron-major
    as one time vector and intervals crossing a (neuron, trial) boundary are dropped.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    counts = _observed_counts(spikes, mask, "spikes")
    n_trials, _, n_neurons = counts.shape
    trial, time_bin, neuron = np.nonzero(counts)
    order = np.argsort(neuron, kind="stable")  # nonzero is (trial, bin)-sorted already
    trial, time_bin, neuron = trial[order], time_bin[order], neuron[order]
    k = counts[trial, time_bin, neuron]
    times = _within_bin_times(time_bin, k, fps)
    train = np.repeat(neuron * n_trials + trial, k)
    same_train = train[1:] == train[:-1]
    isi = np.diff(times)[same_train]
    isi_neuron = train[1:][same_train] // n_trials
    n_isi = np.bincount(isi_neuron, minlength=n_neurons)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(isi_neuron, weights=isi, minlength=n_neurons) / n_isi
        squared = (isi - mean[isi_neuron]) ** 2
        std = np.sqrt(np.bincount(isi_neuron, weights=squared, minlength=n_neurons) / n_isi)
    too_few = n_isi < 1
    mean[too_few] = np.nan
    std[too_few] = np.nan
    return IsiStats(mean, std)


def rmse_isi_stats(model: IsiStats, data: IsiStats) -> tuple[float, float]:
    """RMSE over neurons of mean ISI and of std ISI, ignoring NaN neurons."""
    return _nan_rmse(model.mean, data.mean), _nan_rmse(model.std, data.std)


# ---------------------------------------------------------------------------------------------
# Temporal correlations


def group_neurons_by_correlation(
    spikes: np.ndarray, n_groups: int = 4, mask: np.ndarray | None = None
) -> list[np.ndarray]:
    """Neuron indices ranked by Σ_j corr_ij² (descending) and split into n_groups groups."""
    corr = correlation_matrix(spikes, mask)
    if not 1 <= n_groups <= corr.shape[0]:
        raise ValueError(f"n_groups must be in 1..{corr.shape[0]} (neurons), got {n_groups}")
    strength = np.nansum(corr**2, axis=1)
    return np.array_split(np.argsort(-strength, kind="stable"), n_groups)


def _lagged_products(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Per trial Σ_channels Σ_t x(t)·x(t+τ) for τ = 0..max_lag, by zero-padded FFT."""
    n_fft = fft.next_fast_len(x.shape[1] + max_lag)
    out = np.empty((x.shape[0], max_lag + 1))
    for start in range(0, x.shape[0], TRIAL_CHUNK):
        spectrum = fft.rfft(x[start : start + TRIAL_CHUNK], n=n_fft, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).sum(axis=2)
        out[start : start + TRIAL_CHUNK] = fft.irfft(power, n=n_fft, axis=1)[:, : max_lag + 1]
    return out


def _symmetric_lags(one_sided: np.ndarray) -> np.ndarray:
    """Values at lags 0..L mirrored to lags −L..L (correlations of real signals are even)."""
    return np.concatenate([one_sided[..., :0:-1], one_sided], axis=-1)


def _centred(x: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Float64 signals minus each trial's observed-bin mean, 0 at masked bins."""
    values = zero_masked(np.asarray(x, dtype=np.float64), observed)
    mean = values.sum(axis=1, keepdims=True) / observed.sum(axis=1)[:, None, None]
    return np.where(observed[..., None], values - mean, 0.0)


def _group_correlations(
    x: np.ndarray, lengths: np.ndarray, max_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean auto- and ordered-pair cross-correlation at lags 0..max_lag of centred signals."""
    n = x.shape[2]
    own = _lagged_products(x, max_lag) / lengths[:, None]
    together = _lagged_products(x.sum(axis=2, keepdims=True), max_lag) / lengths[:, None]
    auto = own.mean(axis=0) / n
    if n < 2:
        return auto, np.full(max_lag + 1, np.nan)
    return auto, (together - own).mean(axis=0) / (n * (n - 1))


def temporal_correlations(
    spikes: np.ndarray,
    groups: list[np.ndarray],
    max_lag: int = 30,
    mask: np.ndarray | None = None,
) -> TemporalCorrelations:
    """Auto- and cross-correlation (lags −max_lag..max_lag) averaged within each neuron group.

    Each trial's observed-bin mean is subtracted, c_ij(τ) = Σ_t x_i(t) x_j(t+τ) / T (biased,
    T = observed bins of the trial). `auto` averages c_ii over the group's neurons and trials
    with lag 0 set to 0; `cross` averages c_ij over all ordered pairs i ≠ j and trials, which
    makes it even in τ (c_ji(τ) = c_ij(−τ)). NaN for a group with a single neuron.
    """
    arr, observed = checked_trials(spikes, mask)
    if not 0 <= max_lag < arr.shape[1]:
        raise ValueError(f"max_lag must be in 0..{arr.shape[1] - 1} (time bins), got {max_lag}")
    kept = np.flatnonzero(observed.any(axis=1))
    if kept.size == 0:
        raise ValueError("temporal correlations need at least one observed bin")
    lengths = observed[kept].sum(axis=1)
    auto, cross = [], []
    for group in groups:
        x = _centred(np.take(arr, np.asarray(group), axis=2)[kept], observed[kept])
        group_auto, group_cross = _group_correlations(x, lengths, max_lag)
        auto.append(group_auto)
        cross.append(group_cross)
    auto_full = _symmetric_lags(np.array(auto))
    auto_full[:, max_lag] = 0.0
    return TemporalCorrelations(
        np.arange(-max_lag, max_lag + 1), auto_full, _symmetric_lags(np.array(cross))
    )


# ---------------------------------------------------------------------------------------------
# Power spectral density


def psd(
    x: np.ndarray,
    fs: float,
    mask: np.ndarray | None = None,
    quantiles: tuple[float, float] = (0.25, 0.75),
) -> PsdSummary:
    """Per-trial PSD, csd(x, x) with one segment per trial, summarised across trials.

    x is (trials, time) or (trials, time, channels). With a mask, each trial's observed bins
    form its segment (nperseg = its length) and the spectrum is zero-padded to nfft = time so
    all trials share one frequency grid.
    """
    values = np.asarray(x, dtype=np.float64)
    if values.ndim not in (2, 3):
        raise ValueError(
            f"x must be (trials, time) or (trials, time, channels), got {values.shape}"
        )
    _, observed = checked_trials(values.reshape(*values.shape[:2], -1), mask, "x")
    lengths = observed.sum(axis=1)
    n_bins = values.shape[1]
    if not (lengths > 0).any():
        raise ValueError("psd needs at least one trial with observed bins")
    spectra = np.full((values.shape[0], n_bins // 2 + 1, *values.shape[2:]), np.nan)
    for length in np.unique(lengths[lengths > 0]):
        trials = np.flatnonzero(lengths == length)
        segment = values[trials][observed[trials]].reshape(len(trials), length, *values.shape[2:])
        freqs, power = signal.csd(segment, segment, fs=fs, nperseg=length, nfft=n_bins, axis=1)
        spectra[trials] = power.real
    spectra = spectra[lengths > 0]
    lower, upper = np.quantile(spectra, quantiles, axis=0)
    return PsdSummary(freqs, np.median(spectra, axis=0), lower, upper)


def psd_mse(model: PsdSummary, data: PsdSummary) -> float:
    """Mean squared difference between the model and data median PSDs."""
    if not np.array_equal(model.freqs, data.freqs):
        raise ValueError("model and data PSDs are on different frequency grids")
    return float(np.mean((model.median - data.median) ** 2))


# ---------------------------------------------------------------------------------------------
# PCA of smoothed spikes


def smooth_spikes(
    spikes: np.ndarray, sigma_bins: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """Gaussian smoothing in time (σ in bins, window 8σ), normalised by the observed weight.

    Normalised convolution: smooth(x·m) / smooth(m), so trial edges and masked bins do not pull
    rates towards 0; masked bins are 0 in the output.
    """
    arr, observed = checked_trials(spikes, mask)
    if sigma_bins <= 0:
        raise ValueError(f"sigma_bins must be > 0, got {sigma_bins}")
    smooth = partial(
        gaussian_filter1d, sigma=sigma_bins, axis=1, mode="constant", truncate=GAUSSIAN_HALF_WIDTH
    )
    weight = smooth(observed.astype(np.float64))[..., None]
    values = smooth(zero_masked(np.asarray(arr, dtype=np.float64), observed))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(observed[..., None], values / weight, 0.0)


def pca_smoothed(
    data: np.ndarray,
    model: np.ndarray,
    n_components: int = 5,
    data_mask: np.ndarray | None = None,
    model_mask: np.ndarray | None = None,
) -> PcaProjection:
    """StandardScaler + PCA fitted on the data's observed bins, applied to data and model."""
    data_arr, data_observed = checked_trials(data, data_mask, "data")
    model_arr, model_observed = checked_trials(model, model_mask, "model")
    if data_arr.shape[2] != model_arr.shape[2]:
        raise ValueError(
            f"data has {data_arr.shape[2]} channels but model has {model_arr.shape[2]}"
        )
    rows = observed_rows(data_arr, data_observed)
    scaler = StandardScaler().fit(rows)
    pca = PCA(n_components=n_components).fit(scaler.transform(rows))

    def project(arr: np.ndarray, observed: np.ndarray) -> np.ndarray:
        out = np.full((*arr.shape[:2], n_components), np.nan)
        out[observed] = pca.transform(scaler.transform(observed_rows(arr, observed)))
        return out

    return PcaProjection(
        project(data_arr, data_observed),
        project(model_arr, model_observed),
        pca.explained_variance_ratio_,
    )


# ---------------------------------------------------------------------------------------------
# Condition-mean PSTHs and trial-count variability


def psth_r2(model_psth: np.ndarray, data_psth: np.ndarray) -> float:
    """R² of PSTHs (conditions, T, N) over conditions × time, pooled over neurons.

    1 − Σ(model − data)² / Σ(data − per-neuron mean)², i.e. per-neuron R² weighted by each
    neuron's PSTH variance (weakly modulated neurons do not dominate).
    """
    if model_psth.shape != data_psth.shape:
        raise ValueError(f"PSTH shapes differ: {model_psth.shape} vs {data_psth.shape}")
    model_flat = model_psth.reshape(-1, model_psth.shape[-1])
    data_flat = data_psth.reshape(-1, data_psth.shape[-1])
    varying = data_flat.std(axis=0) > 0
    if not varying.any():
        raise ValueError("no neuron's real PSTH varies: PSTH R² undefined")
    return float(
        r2_score(data_flat[:, varying], model_flat[:, varying], multioutput="variance_weighted")
    )


def fano_factors(spikes: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """Per-neuron Fano factor of trial spike counts within conditions, averaged over them (N,)."""
    totals = spikes.sum(axis=1)
    per_condition = []
    for label in np.unique(condition):
        counts = totals[condition == label]
        if counts.shape[0] < 2:
            continue
        mean = counts.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_condition.append(np.where(mean > 0, counts.var(axis=0, ddof=1) / mean, np.nan))
    if not per_condition:
        raise ValueError("Fano factors need a condition with at least 2 trials")
    return np.nanmean(np.stack(per_condition), axis=0)
