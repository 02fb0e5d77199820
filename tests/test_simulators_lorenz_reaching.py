"""Known-structure tests of the Lorenz (LDNS) and synthetic reaching (GNOCCHI) simulators."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.data.simulate.lorenz import (
    LORENZ_DEFAULT_IC,
    LORENZ_DT,
    integrate_lorenz,
    lorenz_derivative,
    simulate_lorenz,
    softplus_beta,
    split_counts,
)
from neurodiff.data.simulate.reaching import simulate_reaching
from neurodiff.data.tidy import read_tidy

LORENZ_SIZE = {"n_trials": 256, "n_neurons": 32, "n_bins": 64}
REACH_SIZE = {"n_trials": 600, "n_neurons": 40, "n_bins": 50, "bin_size_s": 0.02}


@pytest.fixture(scope="module")
def lorenz():
    return simulate_lorenz(**LORENZ_SIZE, seed=42)


@pytest.fixture(scope="module")
def reaching():
    return simulate_reaching(
        **REACH_SIZE, n_angles=8, heldout_angles=(2, 5), speeds=(0.25, 0.4, 0.6), seed=3
    )


# ---------------------------------------------------------------- Lorenz


def test_lorenz_shapes_and_metadata(lorenz):
    assert lorenz.signals.shape == (256, 64, 32)
    assert lorenz.truth["latents"].shape == (256, 64, 3)
    assert lorenz.truth["rates"].shape == (256, 64, 32)
    assert lorenz.truth["readout"].shape == (32, 3)
    assert (lorenz.name, lorenz.signal_kind, lorenz.bin_size_s) == ("lorenz", "counts", 1.0)
    assert np.all(lorenz.signals == np.round(lorenz.signals)) and lorenz.signals.min() >= 0


def test_lorenz_latents_are_zscored_per_trajectory(lorenz):
    z = lorenz.truth["latents"].astype(float)
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-5)
    # x and y of the Lorenz attractor are strongly positively correlated, z is not.
    corr = np.mean([np.corrcoef(trial.T) for trial in z], axis=0)
    assert corr[0, 1] > 0.6 and abs(corr[0, 2]) < 0.3


def test_lorenz_integration_solves_the_lorenz_system():
    path = integrate_lorenz(np.asarray([LORENZ_DEFAULT_IC]), 300)[0]
    central = (path[2:] - path[:-2]) / (2 * LORENZ_DT)
    exact = np.array([lorenz_derivative(0.0, p) for p in path[1:-1]])
    assert np.abs(central - exact).max() < 0.03 * np.abs(exact).max()
    assert np.abs(path[:, :2]).max() < 30 and 0 < path[:, 2].min() and path[:, 2].max() < 55


def test_lorenz_readout_rows_unit_norm_and_sorted(lorenz):
    readout = lorenz.truth["readout"]
    np.testing.assert_allclose(np.linalg.norm(readout, axis=1), 1.0, atol=1e-12)
    assert np.all(np.diff(readout[:, 0]) >= 0)


def test_softplus_beta_formula():
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.0])
    np.testing.assert_allclose(softplus_beta(x, 2.0), np.log1p(np.exp(2 * x)) / 2)
    assert np.isfinite(softplus_beta(np.array([1e4]), 2.0)).all()


def test_lorenz_rates_follow_readout_and_spikes_follow_rates(lorenz):
    z, readout, rates = (lorenz.truth[k] for k in ("latents", "readout", "rates"))
    expected = softplus_beta(z.astype(float) @ readout.T + np.log(0.3), 2.0)
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-7)
    standard_error = np.sqrt(rates.sum()) / rates.size
    assert abs(lorenz.signals.mean() - rates.mean()) < 4 * standard_error


def test_lorenz_mean_rate_near_softplus_expectation(lorenz):
    """Each neuron's drive c.z is near N(0, c' S c) (S: latent correlation); the mean rate is
    then E[softplus_2(u + log 0.3)], which is far below 0.3 because softplus(log r) < r."""
    z, readout = lorenz.truth["latents"].astype(float), lorenz.truth["readout"]
    cov = np.einsum("ntk,ntl->kl", z, z) / (z.shape[0] * z.shape[1])
    normal = np.random.default_rng(0).normal(size=100_000)
    expectation = np.mean(
        [softplus_beta(np.sqrt(c @ cov @ c) * normal + np.log(0.3), 2.0).mean() for c in readout]
    )
    assert abs(lorenz.truth["rates"].mean() - expectation) < 0.05 * expectation
    assert 0.1 < expectation < 0.2


def test_lorenz_split_sizes(lorenz):
    counts = {s: len(lorenz.indices(s)) for s in ("train", "val", "test")}
    assert counts == {"train": 180, "val": 25, "test": 51}
    assert split_counts(5000, (0.7, 0.1, 0.2)) == [3500, 500, 1000]
    with pytest.raises(ValueError, match="sum to 1"):
        split_counts(10, (0.5, 0.2, 0.2))


def test_lorenz_determinism_and_long_version(lorenz):
    again = simulate_lorenz(**LORENZ_SIZE, seed=42)
    np.testing.assert_array_equal(again.signals, lorenz.signals)
    np.testing.assert_array_equal(again.split, lorenz.split)
    other = simulate_lorenz(**LORENZ_SIZE, seed=7)
    assert not np.array_equal(other.signals, lorenz.signals)
    long = simulate_lorenz(n_trials=4, n_neurons=32, n_bins=64 * 16, seed=42)
    assert long.signals.shape == (4, 1024, 32)
    np.testing.assert_array_equal(long.truth["readout"], lorenz.truth["readout"])
    np.testing.assert_allclose(long.truth["latents"].std(axis=1), 1.0, atol=1e-5)


def test_lorenz_tidy_round_trip(lorenz, tmp_path):
    lorenz.write(tmp_path / "lorenz.h5")
    back = read_tidy(tmp_path / "lorenz.h5")
    np.testing.assert_array_equal(back.signals, lorenz.signals)
    np.testing.assert_array_equal(back.truth["readout"], lorenz.truth["readout"])
    assert back.meta["softplus_beta"] == 2.0 and back.bin_size_s == 1.0


# ---------------------------------------------------------------- reaching


def test_reaching_layout(reaching):
    assert reaching.signals.shape == (600, 50, 40)
    assert reaching.behavior.shape == (600, 50, 2)
    assert reaching.behavior_names == ["hand_vel_x", "hand_vel_y"]
    assert reaching.truth["rates"].shape == (600, 50, 40)
    assert reaching.truth["hand_pos"].shape == (600, 50, 2)
    assert reaching.meta["factor_names"] == ["reach_angle", "speed"]
    np.testing.assert_allclose(reaching.truth["factors"][:, 0], reaching.conditions["reach_angle"])
    np.testing.assert_allclose(reaching.truth["factors"][:, 1], reaching.conditions["speed"])
    np.testing.assert_allclose(
        reaching.conditions["reach_angle"], 2 * np.pi * reaching.conditions["angle_index"] / 8
    )
    combos = reaching.conditions["angle_index"] * 3 + reaching.conditions["speed_index"]
    counts = np.bincount(combos, minlength=24)
    assert counts.max() - counts.min() <= 1


def test_reaching_unseen_angles_only_in_test(reaching):
    unseen = reaching.conditions["unseen"]
    np.testing.assert_array_equal(unseen, np.isin(reaching.conditions["angle_index"], [2, 5]))
    assert unseen.sum() == 150
    assert np.all(reaching.split[unseen] == "test")
    train_angles = set(reaching.conditions["angle_index"][reaching.indices("train")].tolist())
    assert train_angles == {0, 1, 3, 4, 6, 7}
    seen_counts = {s: int(np.sum(reaching.split[~unseen] == s)) for s in ("train", "val", "test")}
    assert seen_counts == {"train": 315, "val": 45, "test": 90}


def test_reaching_velocity_integrates_to_reach_direction(reaching):
    angle = reaching.conditions["reach_angle"]
    target = 0.08 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    displacement = reaching.behavior.sum(axis=1) * 0.02
    np.testing.assert_allclose(displacement, target, atol=0.005 * 0.08)
    np.testing.assert_allclose(reaching.truth["hand_pos"][:, -1], target, atol=1e-6)
    peak = np.linalg.norm(reaching.behavior, axis=2).max(axis=1)
    np.testing.assert_allclose(peak, reaching.conditions["speed"], rtol=0.03)
    assert np.all(reaching.behavior[:, :8] == 0)  # hand at rest before the 0.2 s onset


def test_reaching_rates_depend_on_angle(reaching):
    rates, angle_index = reaching.truth["rates"], reaching.conditions["angle_index"]
    # before the neurons see the movement (t + lag < onset) every trial has the baseline rates
    np.testing.assert_allclose(rates[:, :5], np.broadcast_to(rates[0, :5], rates[:, :5].shape))
    same = np.flatnonzero((angle_index == 0) & (reaching.conditions["speed_index"] == 1))
    np.testing.assert_array_equal(rates[same[0]], rates[same[1]])
    tuning = np.stack([rates[angle_index == k, 10:35].mean(axis=(0, 1)) for k in range(8)])
    assert np.mean(tuning.std(axis=0) / tuning.mean(axis=0)) > 0.1
    # reach angle is decodable from spike counts: nearest centroid, train -> seen test trials
    counts = reaching.signals[:, 10:35].sum(axis=1)
    train = reaching.indices("train")
    centroids = {k: counts[train][angle_index[train] == k].mean(0) for k in (0, 1, 3, 4, 6, 7)}
    test = np.flatnonzero((reaching.split == "test") & ~reaching.conditions["unseen"])
    labels = np.array(list(centroids))
    dist = np.stack([np.linalg.norm(counts[test] - centroids[k], axis=1) for k in labels], 1)
    accuracy = np.mean(labels[dist.argmin(axis=1)] == angle_index[test])
    assert accuracy > 0.6  # chance is 1/6


def test_reaching_determinism(reaching):
    args = dict(**REACH_SIZE, n_angles=8, heldout_angles=(2, 5), speeds=(0.25, 0.4, 0.6))
    again = simulate_reaching(**args, seed=3)
    np.testing.assert_array_equal(again.signals, reaching.signals)
    np.testing.assert_array_equal(again.split, reaching.split)
    np.testing.assert_array_equal(again.truth["rates"], reaching.truth["rates"])
    assert not np.array_equal(simulate_reaching(**args, seed=4).signals, reaching.signals)


def test_reaching_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"heldout_angles \[8\]"):
        simulate_reaching(n_trials=10, n_angles=8, heldout_angles=(8,))
    with pytest.raises(ValueError, match="speed 0.05 m/s"):
        simulate_reaching(n_trials=10, speeds=(0.05, 0.4))
    with pytest.raises(ValueError, match="no angle for training"):
        simulate_reaching(n_trials=10, n_angles=2, heldout_angles=(0, 1))


def test_reaching_tidy_round_trip(reaching, tmp_path):
    reaching.write(tmp_path / "reaching.h5")
    back = read_tidy(tmp_path / "reaching.h5")
    np.testing.assert_array_equal(back.conditions["unseen"], reaching.conditions["unseen"])
    np.testing.assert_array_equal(back.behavior, reaching.behavior)
    assert back.meta["factor_names"] == ["reach_angle", "speed"]


def test_reaching_signal_is_realistic_and_condition_driven(reaching):
    # peak rates of motor-cortex neurons (20-60 Hz), not the exponential's hundreds of Hz
    peak_hz = reaching.truth["rates"].max(axis=(0, 1)) / 0.02
    assert peak_hz.max() <= 60.0 + 1e-3
    assert np.median(peak_hz) >= 20.0
    # conditions explain >= 30 % of the variance of single smoothed trials (sigma = 3 bins)
    from scipy.ndimage import gaussian_filter1d

    x = gaussian_filter1d(reaching.signals.astype(float), 3.0, axis=1)
    cond = reaching.conditions["angle_index"] * 3 + reaching.conditions["speed_index"]
    labels, inverse = np.unique(cond, return_inverse=True)
    means = np.stack([x[cond == c].mean(axis=0) for c in labels])[inverse]
    share = 1 - ((x - means) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert share >= 0.3


def test_reaching_factors_are_independent_by_design(reaching):
    # every angle x speed pair occurs equally often (within one trial: 600 trials, 24 pairs)
    table = np.zeros((8, 3), dtype=int)
    np.add.at(table, (reaching.conditions["angle_index"], reaching.conditions["speed_index"]), 1)
    assert table.max() - table.min() <= 1
    angle, speed = reaching.conditions["reach_angle"], reaching.conditions["speed"]
    assert abs(np.corrcoef(np.cos(angle), speed)[0, 1]) < 0.02
    assert abs(np.corrcoef(np.sin(angle), speed)[0, 1]) < 0.02


def test_reaching_rate_ceiling():
    from neurodiff.data.simulate.reaching import saturate

    np.testing.assert_allclose(saturate(np.array([1e-4, 10.0]), 1.2), [1e-4, 1.2], rtol=1e-3)
    with pytest.raises(ValueError, match="max_rate"):
        saturate(np.ones(2), 0.0)
