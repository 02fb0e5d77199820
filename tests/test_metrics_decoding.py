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


def test_circular_correlation_known_answers() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(-np.pi, np.pi, 400)
    assert D.circular_correlation(a, a + 2.0) == pytest.approx(1.0)  # rotated: still 1
    assert D.circular_correlation(a, -a + 0.5) == pytest.approx(-1.0)
    assert abs(D.circular_correlation(a, rng.uniform(-np.pi, np.pi, 400))) < 0.15
    noisy = a + rng.normal(0, 0.3, 400)
    assert 0.7 < D.circular_correlation(a, noisy) < 1.0
    with pytest.raises(ValueError, match="no spread"):
        D.circular_correlation(a, np.zeros_like(a))


def test_circular_correlation_is_stable_for_balanced_conditions() -> None:
    """Eight evenly spaced reach angles, end points within ~3°: near 1 on every draw (the
    Jammalamadaka–SenGupta coefficient, with arbitrary mean directions here, gave 0.21–0.94)."""
    rng = np.random.default_rng(0)
    a = np.repeat(np.arange(8) * np.pi / 4, 40)
    values = [D.circular_correlation(a, a + rng.normal(0, 0.05, a.size)) for _ in range(5)]
    assert min(values) > 0.99
    assert D.circular_correlation(a, a + rng.normal(0, 0.4, a.size)) > 0.8


def test_endpoint_angle_of_straight_reaches() -> None:
    angles = np.array([0.0, np.pi / 2, -3 * np.pi / 4])
    velocity = np.stack([np.cos(angles), np.sin(angles)], axis=-1)[:, None, :].repeat(5, axis=1)
    np.testing.assert_allclose(D.endpoint_angle(velocity, 0.01), angles, atol=1e-12)
