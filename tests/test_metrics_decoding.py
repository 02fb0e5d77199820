"""Known-answer tests of behaviour decoding (neurodiff.metrics.decoding)."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.metrics import decoding as D


def test_ridge_decoding_of_planted_linear_map() -> None:
    rng = np.random.default_rng(7)
    rates = rng.gamma(2.0, 1.0, size=(30, 20, 10))
    weights = rng.normal(size=(10, 2))
    velocity = rates @ weights + np.array([0.5, -1.0])
    decoder = D.fit_velocity_decoder(rates[:20], velocity[:20])
    assert D.decoding_r2(decoder, rates[20:], velocity[20:]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(D.predict_velocity(decoder, rates), velocity, atol=1e-4)


def test_trajectories_are_cumulative_displacements() -> None:
    velocity = np.tile([[1.0, -2.0]], (1, 5, 1))
    positions = D.trajectories_from_velocity(velocity, dt=0.005)
    np.testing.assert_allclose(positions[0, :, 0], 0.005 * np.arange(1, 6))
    np.testing.assert_allclose(positions[0, -1], [0.025, -0.05])
