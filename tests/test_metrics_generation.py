"""Known-answer tests of the guided-generation specificity (neurodiff.metrics.generation)."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.metrics.generation import guidance_specificity, temporal_variance, variance_ratios


def test_specificity_metric_on_known_inputs():
    t = np.linspace(0, 2 * np.pi, 40)
    base = np.stack([np.sin(t), np.cos(t), np.sin(2 * t)], axis=-1)[None].repeat(5, axis=0)
    guided = base * np.array([2.0, 1.0, 1.0])  # label 0's variance ×4
    np.testing.assert_allclose(temporal_variance(base)[0], base[0].var(axis=0))
    ratios = variance_ratios(guided, base)
    np.testing.assert_allclose(ratios, [4.0, 1.0, 1.0])
    assert guidance_specificity(ratios, 0) == pytest.approx(4.0)
    assert guidance_specificity(np.array([1.0, 2.0, 4.0]), 0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="never vary"):
        variance_ratios(guided, np.zeros_like(base))
    with pytest.raises(ValueError, match="target index"):
        guidance_specificity(ratios, 3)
