"""The tidy file: integer counts on disk, float32 for readers, validation without full copies."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from neurodiff.data.tidy import TidyDataset, TidyFormatError, read_tidy


def _dataset(signals: np.ndarray, kind: str = "counts", **kw) -> TidyDataset:
    n = signals.shape[0]
    split = np.array(["train", "val", "test"] * n)[:n]
    return TidyDataset(
        name="toy", signals=signals, split=split, bin_size_s=0.005, signal_kind=kind, **kw
    )


def test_integer_counts_are_stored_as_integers_and_read_as_float32(tmp_path):
    counts = np.random.default_rng(0).poisson(2.0, (6, 10, 4)).astype(np.uint8)
    counts[0, 0, 0] = 255
    ds = _dataset(counts)
    assert ds.signals.dtype == np.uint8 and ds.signals is counts  # kept, not copied
    ds.write(tmp_path / "toy.h5")
    with h5py.File(tmp_path / "toy.h5", "r") as f:
        assert f["signals"].dtype == np.uint8
    back = read_tidy(tmp_path / "toy.h5")
    assert back.signals.dtype == np.float32
    np.testing.assert_array_equal(back.signals, counts.astype(np.float32))
    native = read_tidy(tmp_path / "toy.h5", float_signals=False)
    assert native.signals.dtype == np.uint8
    np.testing.assert_array_equal(native.signals, counts)

    wide = counts.astype(np.uint16) * 300
    _dataset(wide).write(tmp_path / "wide.h5")
    np.testing.assert_array_equal(read_tidy(tmp_path / "wide.h5").signals, wide)


def test_other_dtypes_become_float32():
    counts = np.ones((3, 4, 2), dtype=np.int64)
    assert _dataset(counts).signals.dtype == np.float32
    assert _dataset(counts.astype(np.uint8), kind="continuous").signals.dtype == np.float32
    ds = _dataset(counts.astype(np.uint8))
    ds.signal_kind = "continuous"
    with pytest.raises(TidyFormatError, match="only counts may be integers"):
        ds.validate()


def test_validate_checks_finite_values_inside_the_mask_only():
    signals = np.zeros((600, 5, 3), dtype=np.float32)
    mask = np.ones((600, 5), dtype=bool)
    signals[550, 4, 2] = np.nan
    mask[550, 4] = False
    _dataset(signals, mask=mask)  # NaN outside the mask is allowed
    mask[550, 4] = True
    with pytest.raises(TidyFormatError, match="'signals' has non-finite values inside the mask"):
        _dataset(signals, mask=mask)


def test_validate_does_not_copy_the_whole_tensor():
    signals = np.zeros((2000, 140, 32), dtype=np.float32)  # 36 MB
    ds = _dataset(signals)
    tracemalloc.start()
    ds.validate()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < signals.nbytes / 8, peak
