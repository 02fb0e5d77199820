"""Known-answer tests of the spike statistics (neurodiff.metrics.spikes) and of masked bins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurodiff.metrics import decoding as D
from neurodiff.metrics import spikes as S


def poisson_spikes(rate: float, shape=(40, 30, 8), seed: int = 0) -> np.ndarray:
    """Poisson counts with a constant rate per bin."""
    return np.random.default_rng(seed).poisson(rate, size=shape).astype(np.float32)


def one_neuron_counts(values: list[int]) -> np.ndarray:
    """A (1 trial, len(values) bins, 1 neuron) count array."""
    return np.array(values, dtype=float)[None, :, None]


# --- population spike count histogram ---------------------------------------------------------


def test_psch_kl_of_identical_samples_is_zero() -> None:
    x = poisson_spikes(0.5)
    result = S.psch_kl(x, x.copy())
    assert result.kl == 0.0
    assert result.model_density.sum() == pytest.approx(1.0)
    assert result.counts[-1] == S.population_counts(x).max()


def test_psch_kl_grows_with_rate_shift() -> None:
    data = poisson_spikes(0.5, seed=1)
    kls = [
        S.psch_kl(poisson_spikes(rate, seed=2), data, max_count=20).kl for rate in (0.5, 0.6, 0.8)
    ]
    assert 0.0 <= kls[0] < 0.01 < kls[1] < kls[2]


def test_psch_kl_is_model_given_data_direction() -> None:
    narrow = one_neuron_counts([4, 5, 5, 6] * 10)
    broad = one_neuron_counts(list(range(11)) * 4)
    forward = S.psch_kl(narrow, broad, max_count=10)
    backward = S.psch_kl(broad, narrow, max_count=10)
    # KL(narrow ‖ broad) is small, KL(broad ‖ narrow) pays for the narrow density's thin tails
    assert forward.kl < backward.kl
    expected = stats.entropy(forward.model_density, forward.data_density)
    assert forward.kl == pytest.approx(expected, rel=1e-12)
    kde = stats.gaussian_kde(np.array([4, 5, 5, 6] * 10, dtype=float))(np.arange(11))
    np.testing.assert_allclose(forward.model_density, kde / kde.sum())


def test_psch_kl_stays_finite_when_one_method_bursts_far_beyond_the_data() -> None:
    """A shared maximum far beyond the data's counts must not make every KL infinite.

    The data's KDE underflows to exactly 0 there in linear space; in log space it is finite, so
    a model at the data's counts keeps a small KL and a far-off model a large finite one.
    """
    data = one_neuron_counts([4, 5, 5, 6, 7, 3] * 10)
    near = one_neuron_counts([4, 5, 6, 6, 5, 4] * 10)
    far = one_neuron_counts([60, 61, 63, 62, 60, 64] * 10)
    linear = stats.gaussian_kde(np.array([4, 5, 5, 6, 7, 3] * 10, dtype=float))(np.arange(121))
    assert (linear == 0).any()  # the case: the data's density underflows in linear space
    near_kl = S.psch_kl(near, data, max_count=120).kl
    far_kl = S.psch_kl(far, data, max_count=120).kl
    assert np.isfinite(near_kl) and np.isfinite(far_kl)
    assert near_kl == pytest.approx(S.psch_kl(near, data, max_count=20).kl, rel=1e-6)
    assert far_kl > 100 * near_kl


def test_psch_kl_rejects_constant_population_counts() -> None:
    with pytest.raises(ValueError, match="two distinct values"):
        S.psch_kl(np.zeros((3, 4, 2)), poisson_spikes(0.5))


# --- correlations -----------------------------------------------------------------------------


def test_correlation_matrix_equals_corrcoef_with_zero_diagonal() -> None:
    x = poisson_spikes(0.7, shape=(10, 20, 5))
    expected = np.corrcoef(x.reshape(-1, 5).T)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(S.correlation_matrix(x), expected, atol=1e-12)


def test_rmse_correlations_identical_is_zero() -> None:
    x = poisson_spikes(0.7)
    assert S.rmse_correlations(x, x).rmse == 0.0


def test_rmse_correlations_hand_computed_three_neurons() -> None:
    # 2 trials x 2 bins, concatenated samples s0..s3; neurons a, b, c
    # data:  a=[0,1,0,1] b=[0,1,0,1] c=[1,0,0,1] -> corr(a,b)=1,  corr(a,c)=0, corr(b,c)=0
    # model: a=[0,1,0,1] b=[1,0,1,0] c=[1,0,0,1] -> corr(a,b)=-1, corr(a,c)=0, corr(b,c)=0
    # lower-triangle differences (2, 0, 0) over the full 3x3 matrix: sqrt(4/9) = 2/3
    data = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=float).reshape(2, 2, 3)
    model = np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=float).reshape(2, 2, 3)
    result = S.rmse_correlations(model, data)
    assert result.rmse == pytest.approx(2.0 / 3.0)
    np.testing.assert_allclose(result.data_pairs, [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(result.model_pairs, [-1.0, 0.0, 0.0], atol=1e-12)


# --- inter-spike intervals --------------------------------------------------------------------


def test_isi_stats_hand_made() -> None:
    # k spikes in a bin sit at linspace(t, t + dt, k + 2)[1:-1]
    isi = np.diff([0.1 + 0.1 / 3, 0.1 + 0.2 / 3, 0.35, 0.425, 0.45, 0.475])
    result = S.isi_stats(one_neuron_counts([0, 2, 0, 1, 3]), fps=10.0)
    assert result.mean[0] == pytest.approx(isi.mean(), abs=1e-12)
    assert result.std[0] == pytest.approx(isi.std(), abs=1e-12)


def test_isi_of_regular_train_pooled_across_trials() -> None:
    k, fps, n_bins = 4, 200.0, 23  # 23 is no multiple of 4: a cross-trial interval would differ
    x = np.zeros((5, n_bins, 4))
    for trial in range(5):
        x[trial, trial % k :: k, 0] = 1
    x[0, [3, 9], 1] = 1  # neuron 1: a single interval -> its statistics (std 0)
    x[1, 4, 2] = 1  # neuron 2: one spike per trial, no interval -> NaN
    x[2, 7, 2] = 1
    result = S.isi_stats(x, fps)  # neuron 3: silent -> NaN
    assert result.mean[0] == pytest.approx(k / fps)
    assert result.std[0] == pytest.approx(0.0, abs=1e-12)
    assert result.mean[1] == pytest.approx(6 / fps) and result.std[1] == 0.0
    assert np.isnan(result.mean[2]) and np.isnan(result.std[2])
    assert np.isnan(result.mean[3]) and np.isnan(result.std[3])


def test_rmse_isi_stats_known_values() -> None:
    every_2, every_4 = np.zeros((3, 40, 2)), np.zeros((3, 40, 2))
    every_2[:, ::2, :] = 1
    every_4[:, ::4, :] = 1
    isi_2, isi_4 = S.isi_stats(every_2, fps=1.0), S.isi_stats(every_4, fps=1.0)
    assert S.rmse_isi_stats(isi_2, isi_2) == (0.0, 0.0)
    rmse_mean, rmse_std = S.rmse_isi_stats(isi_2, isi_4)
    assert rmse_mean == pytest.approx(2.0)
    assert rmse_std == pytest.approx(0.0, abs=1e-12)


def test_isi_rejects_fractional_counts() -> None:
    with pytest.raises(ValueError, match="whole spike counts"):
        S.isi_stats(np.full((2, 3, 1), 0.5), fps=1.0)


# --- temporal correlations --------------------------------------------------------------------


def slow_temporal_correlations(x: np.ndarray, group: np.ndarray, max_lag: int) -> tuple:
    """Direct np.correlate reference of one group's auto/cross correlation, no mask."""
    n_bins = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    centre = n_bins - 1
    lags = slice(centre - max_lag, centre + max_lag + 1)
    auto, cross = [], []
    for trial in centred:
        for i in group:
            for j in group:
                c = np.correlate(trial[:, j], trial[:, i], mode="full")[lags] / n_bins
                (auto if i == j else cross).append(c)
    auto = np.mean(auto, axis=0)
    auto[max_lag] = 0.0
    return auto, np.mean(cross, axis=0)


def test_temporal_correlations_match_direct_definition() -> None:
    x = np.random.default_rng(3).normal(size=(4, 25, 5))
    groups = [np.array([0, 3, 1]), np.array([2, 4])]
    result = S.temporal_correlations(x, groups, max_lag=6)
    np.testing.assert_array_equal(result.lags, np.arange(-6, 7))
    for g, group in enumerate(groups):
        auto, cross = slow_temporal_correlations(x, group, 6)
        np.testing.assert_allclose(result.auto[g], auto, atol=1e-12)
        np.testing.assert_allclose(result.cross[g], cross, atol=1e-12)


def test_autocorrelation_of_periodic_train_peaks_at_period() -> None:
    x = np.zeros((6, 60, 3))
    for trial in range(6):
        x[trial, trial::5, :] = 1
    result = S.temporal_correlations(x, [np.arange(3)], max_lag=12)
    assert result.auto[0, 12] == 0.0
    assert abs(result.lags[np.argmax(result.auto[0])]) == 5


def test_ar1_autocorrelation_decays_and_shifted_copy_peaks_at_delay() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(size=(30, 203))
    ar = np.zeros_like(noise)
    for t in range(1, noise.shape[1]):
        ar[:, t] = 0.8 * ar[:, t - 1] + noise[:, t]
    pair = np.stack([ar[:, 3:], ar[:, :-3]], axis=2)  # neuron 1 = neuron 0 delayed by 3 bins
    result = S.temporal_correlations(pair, [np.array([0, 1])], max_lag=8)
    positive = result.auto[0, 9:]
    assert np.all(np.diff(positive) < 0)
    assert abs(result.lags[np.argmax(result.cross[0])]) == 3


def test_group_neurons_by_correlation_puts_correlated_neurons_first() -> None:
    rng = np.random.default_rng(5)
    shared = rng.poisson(1.0, size=(30, 40, 1))
    x = np.concatenate(
        [shared + rng.poisson(0.2, (30, 40, 3)), rng.poisson(1.0, (30, 40, 3))], axis=2
    )
    groups = S.group_neurons_by_correlation(x[:, :, [3, 0, 4, 1, 5, 2]], n_groups=2)
    assert sorted(groups[0]) == [1, 3, 5]
    assert sorted(groups[1]) == [0, 2, 4]


# --- PSD, smoothing, PCA ------------------------------------------------------------------


def test_psd_of_sinusoid_peaks_at_its_frequency() -> None:
    rng = np.random.default_rng(6)
    fs, n_bins = 100.0, 100
    t = np.arange(n_bins) / fs
    x = np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 2 * np.pi, (12, 1)))
    x += 0.1 * rng.normal(size=x.shape)
    result = S.psd(x, fs)
    assert result.freqs[np.argmax(result.median)] == pytest.approx(10.0)
    assert np.all(result.lower <= result.median) and np.all(result.median <= result.upper)
    assert S.psd_mse(result, S.psd(x.copy(), fs)) == 0.0
    assert S.psd_mse(S.psd(2 * x, fs), result) > 0.0


def test_smoothing_keeps_constants_and_has_unit_mass() -> None:
    flat = np.full((2, 50, 1), 3.0)
    np.testing.assert_allclose(S.smooth_spikes(flat, 2.0), flat)
    impulse = np.zeros((1, 61, 1))
    impulse[0, 30, 0] = 1.0
    kernel = S.smooth_spikes(impulse, 3.0)[0, :, 0]
    assert kernel.sum() == pytest.approx(1.0)
    lags = np.arange(61) - 30
    assert np.sum(kernel * lags**2) == pytest.approx(9.0, rel=0.01)
    assert np.count_nonzero(kernel) == 2 * 12 + 1  # window ±4σ = 8σ wide


def test_pca_of_data_on_itself_gives_identical_projections() -> None:
    x = S.smooth_spikes(poisson_spikes(0.5, shape=(10, 30, 8)), 2.0)
    result = S.pca_smoothed(x, x.copy(), n_components=3)
    np.testing.assert_array_equal(result.data, result.model)
    assert result.data.shape == (10, 30, 3)
    assert np.all(np.diff(result.explained_variance_ratio) <= 0)


# --- masks --------------------------------------------------------------------------------


def masked_pair(seed: int = 11) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variable-length spikes, the same spikes with garbage in masked bins, and the mask."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(0.6, size=(12, 40, 6)).astype(float)
    lengths = rng.integers(20, 41, size=12)
    mask = np.arange(40)[None, :] < lengths[:, None]
    clean = np.where(mask[..., None], x, 0.0)
    garbage = np.where(mask[..., None], x, rng.integers(5, 50, size=x.shape))
    return clean, garbage, mask


MASKED_FUNCTIONS = {
    "population_counts": lambda x, m: S.population_counts(x, m),
    "correlation_matrix": lambda x, m: S.correlation_matrix(x, m),
    "isi_stats": lambda x, m: np.concatenate(S.isi_stats(x, 200.0, m)),
    "temporal_correlations": lambda x, m: np.concatenate(
        S.temporal_correlations(x, [np.arange(3), np.arange(3, 6)], 5, m)[1:]
    ),
    "psd": lambda x, m: np.concatenate(S.psd(x, 200.0, m)[1:]),
    "smooth_spikes": lambda x, m: S.smooth_spikes(x, 2.0, m),
    "pca_smoothed": lambda x, m: np.nan_to_num(S.pca_smoothed(x, x, 3, m, m).model),
    "trajectories": lambda x, m: D.trajectories_from_velocity(x, 0.005, m),
    "decoding_r2": lambda x, m: D.decoding_r2(
        D.fit_velocity_decoder(x, x[:, :, :2] + x[:, :, 2:4], mask=m), x, x[:, :, :2], m
    ),
}


@pytest.mark.parametrize("name", sorted(MASKED_FUNCTIONS))
def test_garbage_in_masked_bins_changes_nothing(name: str) -> None:
    clean, garbage, mask = masked_pair()
    fn = MASKED_FUNCTIONS[name]
    np.testing.assert_allclose(fn(garbage, mask), fn(clean, mask), rtol=1e-10, atol=1e-12)
    unmasked = np.nan_to_num(fn(garbage, np.ones_like(mask)))  # the garbage does matter
    masked = np.nan_to_num(fn(clean, mask))
    assert unmasked.shape != masked.shape or not np.allclose(unmasked, masked)


def test_masked_metrics_equal_metrics_on_observed_bins() -> None:
    clean, _, mask = masked_pair()
    rows = clean[mask]
    np.testing.assert_array_equal(S.population_counts(clean, mask), rows.sum(axis=1))
    expected = np.corrcoef(rows.T)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(S.correlation_matrix(clean, mask), expected, atol=1e-12)


def test_bad_mask_shape_is_named() -> None:
    with pytest.raises(ValueError, match=r"mask of spikes must be shaped \(trials, time\)"):
        S.population_counts(np.zeros((2, 3, 4)), np.ones((2, 4), dtype=bool))
