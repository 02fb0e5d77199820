"""The MC_Maze-like stand-in has population dynamics beyond its PSTH (LDNS issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from neurodiff.data.nwb import read_nlb_nwb
from neurodiff.data.simulate.nlb_like import true_counts, write_mc_maze_like


@pytest.fixture(scope="module")
def maze(tmp_path_factory):
    path = tmp_path_factory.mktemp("maze_dyn") / "maze.nwb"
    truth = write_mc_maze_like(path, n_trials=160, n_units=40, n_heldout=10, n_conditions=8, seed=5)
    return truth, read_nlb_nwb(path, "mc_maze")


def _condition_means(x: np.ndarray, cond: np.ndarray) -> np.ndarray:
    labels = np.unique(cond)
    means = np.stack([x[cond == c].mean(axis=0) for c in labels])
    return means[np.searchsorted(labels, cond)]


def test_rates_peak_in_the_motor_cortex_range(maze):
    truth, _ = maze
    peaks = _condition_means(truth["rates_hz"], truth["condition"]).max(axis=(0, 1))
    assert 20 <= np.median(peaks) <= 80
    assert np.mean((peaks >= 15) & (peaks <= 90)) >= 0.9


def test_conditions_do_not_explain_all_single_trial_variance(maze):
    truth, _ = maze
    rates = truth["rates_hz"].astype(np.float64)
    resid = rates - _condition_means(rates, truth["condition"])
    share = 1 - resid.var() / (rates - rates.mean(axis=(0, 1))).var()
    assert 0.3 <= share <= 0.85
    # the single-trial residual is shared by the population: a few latent dimensions carry it
    flat = (resid - resid.mean(axis=(0, 1))).reshape(-1, rates.shape[-1])
    eig = np.linalg.eigvalsh(np.cov(flat.T))[::-1]
    assert eig[:8].sum() / eig.sum() >= 0.6


def test_velocity_is_linearly_decodable_from_true_rates(maze):
    truth, ds = maze
    x, y = np.log1p(truth["rates_hz"]), ds.behavior
    train = np.arange(len(x)) < 120
    model = Ridge(alpha=1e-3).fit(x[train].reshape(-1, x.shape[-1]), y[train].reshape(-1, 2))
    pred, obs = model.predict(x[~train].reshape(-1, x.shape[-1])), y[~train].reshape(-1, 2)
    r2 = 1 - ((pred - obs) ** 2).sum(0) / ((obs - obs.mean(0)) ** 2).sum(0)
    assert r2.min() >= 0.9


def test_every_condition_has_its_own_end_point(maze):
    truth, _ = maze
    cond = truth["condition"]
    angles = np.array(
        [np.angle(np.exp(1j * truth["reach_angle"][cond == c]).mean()) for c in np.unique(cond)]
    )
    assert len(angles) == 8
    gaps = np.abs(np.angle(np.exp(1j * (angles[:, None] - angles[None, :]))))
    np.fill_diagonal(gaps, np.pi)
    assert np.degrees(gaps.min()) >= 20
    # GNOCCHI's held-out condition (sector 100-140°, version 1) is one condition, alone there
    version = np.array([truth["trial_version"][cond == c][0] for c in np.unique(cond)])
    deg = np.degrees(angles) % 360
    held = (deg >= 100) & (deg <= 140) & (version == 1)
    assert held.sum() == 1
    assert np.degrees(gaps[held].min()) >= 20


def test_true_counts_follow_the_tidy_trials_and_units(maze):
    truth, ds = maze
    ids, units = np.asarray(ds.conditions["trial_id"]), np.asarray(ds.channels["unit_id"])
    counts = true_counts(truth, ids[::-1], units[::-1], ds.bin_size_s)
    assert counts.shape == ds.signals.shape
    # reversed order in, reversed order out: the expected counts line up with the spikes
    expected, spikes = counts[::-1, :, ::-1], ds.signals
    per_unit = np.corrcoef(expected.mean(axis=(0, 1)), spikes.mean(axis=(0, 1)))[0, 1]
    assert per_unit > 0.95
    assert expected.mean() == pytest.approx(spikes.mean(), rel=0.05)
    with pytest.raises(ValueError, match="truth lacks trials"):
        true_counts(truth, np.array([10**9]), units, ds.bin_size_s)
    with pytest.raises(ValueError, match="truth bins"):
        true_counts(truth, ids, units, 2 * ds.bin_size_s)
