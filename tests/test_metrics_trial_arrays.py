"""Known-answer tests of the shared trial-array checks (neurodiff.metrics.trial_arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.metrics.trial_arrays import checked_trials, observed_rows, zero_masked

# 2 trials x 3 bins x 2 channels: value = 100·trial + 10·bin + channel
ARR = np.arange(2)[:, None, None] * 100 + np.arange(3)[None, :, None] * 10 + np.arange(2)
MASK = np.array([[True, True, False], [True, False, False]])  # trial 0: 2 bins, trial 1: 1 bin


def test_checked_trials_without_mask_observes_every_bin():
    arr, observed = checked_trials(ARR.tolist(), None)
    np.testing.assert_array_equal(arr, ARR)
    assert observed.dtype == bool and observed.shape == (2, 3) and observed.all()


def test_checked_trials_accepts_a_0_1_mask_as_booleans():
    _, observed = checked_trials(ARR, MASK.astype(int))
    assert observed.dtype == bool
    np.testing.assert_array_equal(observed, MASK)


@pytest.mark.parametrize(
    "arr, mask, message",
    [
        (np.zeros((3, 2)), None, r"rates must be shaped \(trials, time, neurons\), got shape"),
        (np.zeros((0, 3, 2)), None, "got shape \\(0, 3, 2\\)"),
        (np.zeros((2, 0, 2)), None, "got shape \\(2, 0, 2\\)"),
        (ARR, MASK[:, :2], r"mask of rates must be shaped \(trials, time\) = \(2, 3\)"),
        (ARR, MASK * 2.0, "mask of rates must be boolean"),
    ],
)
def test_checked_trials_refuses_bad_shapes_and_masks(arr, mask, message):
    with pytest.raises(ValueError, match=message):
        checked_trials(arr, mask, name="rates")


def test_zero_masked_zeroes_the_masked_bins_only():
    out = zero_masked(ARR, MASK)
    expected = np.array(
        [
            [[0, 1], [10, 11], [0, 0]],
            [[100, 101], [0, 0], [0, 0]],
        ]
    )
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(ARR[0, 2], [20, 21])  # the input is left as it was


def test_zero_masked_returns_the_same_array_when_nothing_is_masked():
    assert zero_masked(ARR, np.ones((2, 3), dtype=bool)) is ARR


def test_observed_rows_are_the_observed_bins_in_order_as_float64():
    rows = observed_rows(ARR, MASK)
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(rows, [[0, 1], [10, 11], [100, 101]])
