"""File I/O: atomic writes and the .npz array files rules hand to each other."""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff import io
from neurodiff.io import atomic_path, read_npz, write_npz


def sample_arrays() -> dict[str, np.ndarray]:
    return {"counts": np.arange(12, dtype=np.int64).reshape(3, 4),
            "rates": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3),
            "split": np.array(["train", "val", "test"]), "mask": np.array([True, False]),
            "scalar": np.array(0.25)}


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip_keeps_values_dtypes_and_names(tmp_path, compressed):
    arrays = sample_arrays()
    write_npz(tmp_path / "a.npz", arrays, compressed=compressed)
    restored = read_npz(tmp_path / "a.npz", keys=("counts", "split"))
    assert sorted(restored) == sorted(arrays)
    for key, value in arrays.items():
        assert restored[key].dtype == value.dtype
        np.testing.assert_array_equal(restored[key], value)
    assert float(restored["scalar"]) == 0.25
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]  # no temporary left


def test_compressed_npz_is_smaller_for_repetitive_arrays(tmp_path):
    arrays = {"zeros": np.zeros((200, 200))}
    write_npz(tmp_path / "plain.npz", arrays)
    write_npz(tmp_path / "small.npz", arrays, compressed=True)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 10


def test_read_npz_names_the_file_and_the_missing_arrays(tmp_path):
    write_npz(tmp_path / "a.npz", {"x": np.zeros(2)})
    with pytest.raises(KeyError, match=r"a\.npz: missing arrays \['y', 'z'\]; found \['x'\]"):
        read_npz(tmp_path / "a.npz", keys=("x", "y", "z"))


def test_read_npz_refuses_pickled_objects(tmp_path):
    np.savez(tmp_path / "objects.npz", ragged=np.array([[1], [1, 2]], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        read_npz(tmp_path / "objects.npz")


def test_failed_npz_write_keeps_the_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "a.npz"
    write_npz(target, {"old": np.ones(3)})

    def half_written(file, **arrays):
        with open(file, "wb") as fh:
            fh.write(b"PK\x03\x04 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(io.np, "savez", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_npz(target, {"new": np.zeros(3)})
    assert list(read_npz(target)) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_atomic_path_keeps_the_suffix_and_creates_the_folder(tmp_path):
    target = tmp_path / "deep" / "er" / "table.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".csv"
        assert not target.exists()
        tmp.write_text("a,b\n")
    assert target.read_text() == "a,b\n"
