"""Known-answer tests of the data-vs-model agreement statistics (neurodiff.metrics.agreement):
Pearson r of the Lorenz spike statistics and the drift of long latent samples."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.metrics.agreement import (
    autocovariance_ratio,
    correlation_agreement,
    high_frequency_power_ratio,
    latent_length_generalisation,
    pearson_r,
    spike_statistics_pearson,
)


def _poisson_spikes(rates: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).poisson(rates).astype(np.float32)


def test_identical_spike_sets_agree_perfectly():
    rng = np.random.default_rng(0)
    rates = np.exp(rng.normal(-1.0, 0.8, size=(1, 1, 12))) * np.ones((40, 50, 1))
    spikes = _poisson_spikes(rates, 1)
    r = spike_statistics_pearson(spikes, spikes.copy(), fps=1.0)
    assert set(r) == {"mean_isi", "std_isi", "correlations", "psch_density"}
    assert all(v == pytest.approx(1.0) for v in r.values())


def test_model_with_other_rates_agrees_less_than_a_resample():
    rng = np.random.default_rng(0)
    rates = np.exp(rng.normal(-1.0, 0.8, size=(1, 1, 12))) * np.ones((60, 50, 1))
    data = _poisson_spikes(rates, 1)
    resample = spike_statistics_pearson(data, _poisson_spikes(rates, 2), fps=1.0)
    shuffled = spike_statistics_pearson(data, _poisson_spikes(rates[..., ::-1], 3), fps=1.0)
    assert resample["mean_isi"] > 0.9
    assert shuffled["mean_isi"] < resample["mean_isi"] - 0.3


def _ar1_latents(n: int, length: int, scale: float, seed: int) -> np.ndarray:
    """Stationary AR(1) latents (n, 3, length) with coefficient 0.9 and marginal std `scale`."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 3, length))
    x[..., 0] = rng.normal(0, scale, (n, 3))
    for t in range(1, length):
        x[..., t] = 0.9 * x[..., t - 1] + rng.normal(0, scale * np.sqrt(1 - 0.81), (n, 3))
    return x


def test_long_samples_of_the_same_process_keep_range_and_spectrum():
    short = _ar1_latents(200, 64, 1.0, 0)
    same = latent_length_generalisation(short, _ar1_latents(50, 64 * 16, 1.0, 1))
    assert same["max_range_deviation"] < 0.1 and same["max_psd_deviation"] < 0.15
    wider = latent_length_generalisation(short, _ar1_latents(50, 64 * 16, 2.0, 1))
    assert wider["range_ratio_min"] == pytest.approx(2.0, rel=0.1)
    assert wider["max_range_deviation"] == pytest.approx(1.0, abs=0.1)
    assert wider["max_psd_deviation"] == pytest.approx(3.0, abs=0.3)  # 4× the power
    with pytest.raises(ValueError, match="shorter than 64 bins"):
        latent_length_generalisation(short, short[..., :10])


def test_pearson_r_of_a_constant_raises_naming_the_statistic():
    with pytest.raises(ValueError, match="std_isi: Pearson r needs"):
        pearson_r(np.ones(5), np.arange(5.0), "std_isi")


def _correlated_spikes(n_trials: int, shared: np.ndarray, seed: int) -> np.ndarray:
    """Poisson spikes (trials, 40, 10) whose units load `shared` on one common fluctuation."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n_trials, 40, 1))
    return rng.poisson(np.exp(-1.0 + shared * common)).astype(np.float32)


def test_correlation_agreement_ceiling_and_models():
    loadings = np.linspace(0.0, 0.6, 10)
    data = _correlated_spikes(400, loadings, 1)
    rows = correlation_agreement(
        data,
        {
            "same process": _correlated_spikes(400, loadings, 2),
            "independent units": _correlated_spikes(400, 0 * loadings, 3),
        },
        seed=0,
    )
    by_name = {row["compared"]: row for row in rows}
    halves = by_name["data: random half vs the other half"]
    ceiling = by_name["data: a perfect model of as many trials (Spearman–Brown)"]
    rho = halves["pearson_r"]
    assert halves["trials"] == 200 and 0.5 < rho < 1
    assert ceiling["pearson_r"] == pytest.approx(2 * rho / (1 + rho))
    same, independent = by_name["same process"], by_name["independent units"]
    assert same["pearson_r"] == pytest.approx(ceiling["pearson_r"], abs=0.1)
    assert independent["pearson_r"] < 0.3
    assert independent["rmse_pairs"] > same["rmse_pairs"]
    # white fluctuations: no short-lag structure to match
    assert np.isnan(halves["autocov_ratio"]) and np.isnan(same["autocov_deviation"])


def test_autocovariance_ratio_known_answers():
    rng = np.random.default_rng(5)
    phase = rng.uniform(0, 2 * np.pi, size=(300, 1, 6))
    slow = np.sin(2 * np.pi * np.arange(40)[None, :, None] / 40 + phase)  # period 40 bins
    data = rng.poisson(np.exp(0.5 + 0.8 * slow)).astype(np.float32)
    assert autocovariance_ratio(data, data) == pytest.approx(1.0)
    assert autocovariance_ratio(2 * data, data) == pytest.approx(4.0)  # covariance scales as c²
    other = rng.poisson(np.exp(0.5 + 0.8 * slow)).astype(np.float32)  # same rates, new spikes
    assert autocovariance_ratio(other, data) == pytest.approx(1.0, abs=0.1)
    shuffled = rng.permuted(data, axis=1)  # same counts, time order destroyed
    assert abs(autocovariance_ratio(shuffled, data)) < 0.15
    assert np.isnan(autocovariance_ratio(data, rng.permuted(data, axis=1)))


def test_high_frequency_power_ratio_known_answers():
    short = _ar1_latents(200, 64, 1.0, 0)
    same = high_frequency_power_ratio(short, _ar1_latents(50, 64 * 16, 1.0, 1), 0.1)
    assert same == pytest.approx(1.0, abs=0.1)
    # Twice the amplitude is four times the power in every band.
    doubled = high_frequency_power_ratio(short, 2 * _ar1_latents(50, 64 * 16, 1.0, 1), 0.1)
    assert doubled == pytest.approx(4.0, rel=0.1)
    # White noise added to the long samples raises only the fast band much.
    noisy = _ar1_latents(50, 64 * 16, 1.0, 1) + np.random.default_rng(2).normal(
        0, 0.5, (50, 3, 64 * 16)
    )
    assert high_frequency_power_ratio(short, noisy, 0.25) > 3.0
    with pytest.raises(ValueError, match="above the Nyquist"):
        high_frequency_power_ratio(short, short, 0.6)
