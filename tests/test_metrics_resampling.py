"""Known-answer tests of the bootstrap and split-half folds (neurodiff.metrics.resampling)."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.metrics import resampling as R
from neurodiff.metrics import spikes as S


def poisson_spikes(rate: float, shape=(40, 30, 8), seed: int = 0) -> np.ndarray:
    """Poisson counts with a constant rate per bin."""
    return np.random.default_rng(seed).poisson(rate, size=shape).astype(np.float32)


def test_bootstrap_of_identical_trials_is_exactly_zero() -> None:
    trial = poisson_spikes(0.8, shape=(1, 60, 6), seed=8)
    data = np.repeat(trial, 20, axis=0)
    metrics = R.ldns_table1_metrics(fps=200.0, max_count=int(S.population_counts(data).max()))
    resamples = R.bootstrap_indices(len(data), n_resamples=3)
    for result in R.bootstrap_metrics(data, data, metrics, resamples).values():
        assert result.mean == 0.0 and result.std == 0.0
    for result in R.split_half_reference(data, metrics, n_resamples=3).values():
        assert result.mean == pytest.approx(0.0, abs=1e-12)  # ISI: half vs full sums differ


def test_bootstrap_same_distribution_far_below_shifted_model() -> None:
    data = poisson_spikes(0.5, shape=(60, 30, 8), seed=9)
    same = poisson_spikes(0.5, shape=(60, 30, 8), seed=10)
    shifted = poisson_spikes(1.0, shape=(60, 30, 8), seed=10)
    metrics = R.ldns_table1_metrics(fps=200.0, max_count=25)
    resamples = R.bootstrap_indices(60, seed=1)
    near = R.bootstrap_metrics(same, data, metrics, resamples)
    far = R.bootstrap_metrics(shifted, data, metrics, resamples)
    for name in ("kl_psch", "rmse_mean_isi"):
        assert near[name].mean < 0.2 * far[name].mean
    assert near["kl_psch"].values.shape == (5,)
    again = R.bootstrap_metrics(same, data, metrics, R.bootstrap_indices(60, seed=1))
    np.testing.assert_array_equal(again["rmse_corr"].values, near["rmse_corr"].values)


def test_bootstrap_uses_exactly_the_given_resamples() -> None:
    data = poisson_spikes(0.5, shape=(10, 30, 4), seed=3)
    metrics = {"first": R.SpikeMetric(lambda x, m: x, lambda m, d: float(m[0].sum()))}
    resamples = np.array([[2, 2, 5], [0, 9, 1]])
    result = R.bootstrap_metrics(data, data, metrics, resamples)
    np.testing.assert_array_equal(result["first"].values, [data[2].sum(), data[0].sum()])
    with pytest.raises(ValueError, match="resamples must be integer indices"):
        R.bootstrap_metrics(data, data, metrics, np.array([[0, 10]]))
    with pytest.raises(ValueError, match="resamples must be shaped"):
        R.bootstrap_metrics(data, data, metrics, np.arange(3))
    # the default draws of bootstrap_indices are those of the former per-call generator
    rng = np.random.default_rng(42)
    expected = [rng.integers(0, 10, size=10) for _ in range(5)]
    np.testing.assert_array_equal(R.bootstrap_indices(10), expected)


def test_split_half_isi_rows_compare_a_half_with_the_full_data() -> None:
    data = poisson_spikes(0.3, shape=(40, 50, 5), seed=4)
    metrics = R.ldns_table1_metrics(fps=200.0, max_count=30)
    result = R.split_half_reference(data, metrics, n_resamples=2, seed=7)
    rng = np.random.default_rng(7)
    full = S.isi_stats(data, 200.0)
    for fold in range(2):
        order = rng.permutation(40)
        first, second = order[:20], order[20:]
        half = S.isi_stats(data[first], 200.0)
        assert result["rmse_mean_isi"].values[fold] == pytest.approx(
            S.rmse_isi_stats(half, full)[0]
        )
        assert result["rmse_std_isi"].values[fold] == pytest.approx(S.rmse_isi_stats(half, full)[1])
        corr = S.rmse_lower_triangle(
            S.correlation_matrix(data[first], None), S.correlation_matrix(data[second], None)
        )
        assert result["rmse_corr"].values[fold] == pytest.approx(corr)


def test_bootstrap_summarises_data_once_and_shares_summaries() -> None:
    calls: list[int] = []

    def n_trials(spikes: np.ndarray, mask: np.ndarray | None) -> int:
        calls.append(spikes.shape[0])
        return spikes.shape[0]

    metrics = {
        "a": R.SpikeMetric(n_trials, lambda m, d: float(m - d)),
        "b": R.SpikeMetric(n_trials, lambda m, d: float(m + d)),
    }
    resamples = R.bootstrap_indices(7, n_resamples=4)
    result = R.bootstrap_metrics(np.zeros((7, 2, 1)), np.zeros((5, 2, 1)), metrics, resamples)
    assert calls == [5, 7, 7, 7, 7]
    assert result["a"].mean == 2.0 and result["b"].mean == 12.0
    calls.clear()
    R.split_half_reference(np.zeros((9, 2, 1)), metrics, n_resamples=2)
    assert calls == [4, 5, 4, 5]
