"""Willett competitionData reader: hand-written .mat files, the simulator round trip, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from neurodiff.data.simulate.willett_like import write_willett_like
from neurodiff.data.tidy import read_tidy
from neurodiff.data.willett import (
    WillettFormatError,
    list_competition_files,
    read_competition_file,
    read_willett_mat,
)

MAX_BINS = 8


def _trial(n_bins: int, offset: int, n_channels: int = 256) -> np.ndarray:
    """Counts that encode bin and channel, so any misplacement is visible."""
    values = offset + np.arange(n_bins)[:, None] * 3 + np.arange(n_channels)[None, :] % 7
    return (values % 250).astype(np.uint8)


def _cell(arrays: list[np.ndarray], column: bool = False) -> np.ndarray:
    cell = np.empty((len(arrays), 1) if column else (1, len(arrays)), dtype=object)
    for i, arr in enumerate(arrays):
        cell.flat[i] = arr
    return cell


def _save(
    path: Path,
    trials: list[np.ndarray],
    sentences: list[str],
    blocks: list[int],
    column_cell: bool = False,
    sentences_as_cell: bool = False,
    **extra,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        _cell([np.array(s) for s in sentences], column=True)
        if sentences_as_cell
        else np.array(sentences)
    )
    contents = {
        "tx1": _cell(trials, column_cell),
        "sentenceText": text,
        "blockIdx": np.asarray(blocks, dtype=float).reshape(-1, 1),
    }
    scipy.io.savemat(path, {**contents, **extra})


@pytest.fixture()
def competition_dir(tmp_path):
    """Lengths: train/a.mat 5, 9 (too long), 8; test/a.mat 3, 12 (too long); test/b.mat 4, 6, 7."""
    root = tmp_path / "competitionData"
    trials = {
        ("train", "a.mat"): [_trial(5, 0), _trial(9, 10), _trial(8, 20)],
        ("test", "a.mat"): [_trial(3, 30), _trial(12, 40)],
        ("test", "b.mat"): [_trial(4, 50), _trial(6, 60), _trial(7, 70)],
    }
    _save(
        root / "train" / "a.mat",
        trials["train", "a.mat"],
        ["hello world", "too long", "last one"],
        [1, 1, 2],
    )
    _save(
        root / "test" / "a.mat",
        trials["test", "a.mat"],
        ["short", "long"],
        [3, 3],
        column_cell=True,
    )
    _save(
        root / "test" / "b.mat",
        trials["test", "b.mat"],
        ["x", "yy", "zzz"],
        [5, 5, 5],
        sentences_as_cell=True,
    )
    return root, trials


def test_list_competition_files(competition_dir, tmp_path):
    root, _ = competition_dir
    (root / "test" / ".b.mat.tmp123.mat").write_bytes(b"partial")
    files = list_competition_files(root)
    assert [p.name for p in files["train"]] == ["a.mat"]
    assert [p.name for p in files["test"]] == ["a.mat", "b.mat"]
    with pytest.raises(FileNotFoundError, match="train"):
        list_competition_files(tmp_path / "nowhere")


def test_reads_exact_counts_padding_mask_and_channel_cut(competition_dir):
    root, trials = competition_dir
    data = read_willett_mat(list_competition_files(root), n_channels=128, max_bins=MAX_BINS)
    kept = (
        [trials["train", "a.mat"][i] for i in (0, 2)]
        + [trials["test", "a.mat"][0]]
        + trials["test", "b.mat"]
    )
    assert data.signals.shape == (6, MAX_BINS, 128)
    for i, x in enumerate(kept):
        n = len(x)
        np.testing.assert_array_equal(data.signals[i, :n], x[:, :128].astype(np.float32))
        assert np.all(data.signals[i, n:] == 0)
        np.testing.assert_array_equal(data.mask[i], np.arange(MAX_BINS) < n)
    assert data.bin_size_s == 0.02 and data.signal_kind == "counts" and data.name == "willett"
    np.testing.assert_array_equal(data.conditions["length_bins"], [5, 8, 3, 4, 6, 7])
    np.testing.assert_array_equal(data.lengths(), [5, 8, 3, 4, 6, 7])


def test_conditions_splits_and_dropped(competition_dir):
    root, _ = competition_dir
    data = read_willett_mat(list_competition_files(root), n_channels=128, max_bins=MAX_BINS)
    # test folder keeps 4 trials over its two files: floor(4 / 4) = 1 -> val, the rest test
    assert data.split.tolist() == ["train", "train", "val", "test", "test", "test"]
    assert data.conditions["sentence"].tolist() == [
        "hello world",
        "last one",
        "short",
        "x",
        "yy",
        "zzz",
    ]
    assert data.conditions["block"].tolist() == [1, 2, 3, 5, 5, 5]
    assert data.conditions["source_file"].tolist() == [
        "train/a.mat",
        "train/a.mat",
        "test/a.mat",
        "test/b.mat",
        "test/b.mat",
        "test/b.mat",
    ]
    assert data.conditions["trial_in_file"].tolist() == [0, 2, 0, 0, 1, 2]
    assert data.meta["dropped_longer_than_max_bins"] == {"train": 1, "test": 1}


def test_larger_max_bins_keeps_everything_and_tidy_round_trip(competition_dir, tmp_path):
    root, trials = competition_dir
    data = read_willett_mat(list_competition_files(root), n_channels=256, max_bins=12)
    assert data.signals.shape == (8, 12, 256)
    np.testing.assert_array_equal(data.signals[4, :12], trials["test", "a.mat"][1])
    assert data.split.tolist().count("val") == 1  # floor(5 / 4)
    data.write(tmp_path / "willett.h5")
    back = read_tidy(tmp_path / "willett.h5")
    np.testing.assert_array_equal(back.signals, data.signals)
    np.testing.assert_array_equal(back.mask, data.mask)
    assert back.conditions["sentence"].tolist() == data.conditions["sentence"].tolist()


def test_errors_name_file_and_key(tmp_path):
    no_tx1 = tmp_path / "no_tx1.mat"
    scipy.io.savemat(no_tx1, {"sentenceText": np.array(["a"]), "blockIdx": np.ones((1, 1))})
    with pytest.raises(WillettFormatError, match=r"no_tx1\.mat: missing key 'tx1'"):
        read_competition_file(no_tx1)

    narrow = tmp_path / "narrow.mat"
    _save(narrow, [_trial(4, 0, n_channels=100)], ["a"], [1])
    with pytest.raises(WillettFormatError, match=r"narrow\.mat: 'tx1' trial 0 has 100 channels"):
        read_competition_file(narrow, n_channels=128)

    not_cell = tmp_path / "not_cell.mat"
    scipy.io.savemat(
        not_cell,
        {"tx1": np.zeros((4, 256)), "sentenceText": np.array(["a"]), "blockIdx": np.ones((1, 1))},
    )
    with pytest.raises(WillettFormatError, match=r"not_cell\.mat: 'tx1' must be a 1 x S"):
        read_competition_file(not_cell)

    bad_blocks = tmp_path / "bad_blocks.mat"
    _save(bad_blocks, [_trial(4, 0), _trial(5, 0)], ["a", "b"], [1, 1, 1])
    with pytest.raises(WillettFormatError, match=r"bad_blocks\.mat: 'blockIdx' must hold 2"):
        read_competition_file(bad_blocks)

    no_text = tmp_path / "no_text.mat"
    scipy.io.savemat(no_text, {"tx1": _cell([_trial(4, 0)]), "blockIdx": np.ones((1, 1))})
    with pytest.raises(WillettFormatError, match=r"no_text\.mat: missing key 'sentenceText'"):
        read_competition_file(no_text)

    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(WillettFormatError, match=r"garbage\.mat: not a readable MATLAB file"):
        read_competition_file(garbage)

    with pytest.raises(FileNotFoundError, match=r"missing\.mat"):
        read_competition_file(tmp_path / "missing.mat")
    with pytest.raises(ValueError, match=r"keys \['val'\]"):
        read_willett_mat({"val": [no_tx1]})


def test_simulator_round_trip(tmp_path):
    out = write_willett_like(
        tmp_path / "sim",
        n_files=2,
        trials_per_file=6,
        min_bins=16,
        max_bins=40,
        seed=5,
        test_trials_per_file=5,
    )
    files = list_competition_files(tmp_path / "sim")
    assert [str(p) for p in files["train"]] == out["train"]
    assert [str(p) for p in files["test"]] == out["test"]
    raw = scipy.io.loadmat(out["train"][0])
    assert raw["tx1"].shape == (1, 6) and raw["tx1"][0, 0].shape[1] == 256
    assert raw["tx1"][0, 0].dtype == np.uint8 and raw["spikePow"][0, 0].dtype == np.float32
    for i in range(6):
        tx = [raw[f"tx{k}"][0, i].astype(int) for k in range(1, 5)]
        assert all(np.all(a >= b) for a, b in zip(tx[:-1], tx[1:], strict=True))

    truth = np.load(out["truth"])
    lengths = truth["lengths"]
    assert lengths.max() == 40 and lengths.min() >= 16 and len(lengths) == 2 * 6 + 2 * 5
    data = read_willett_mat(files, n_channels=128, max_bins=30)
    keep = lengths <= 30
    assert 0 < (~keep).sum() and data.n_trials == keep.sum()
    np.testing.assert_array_equal(data.conditions["length_bins"], lengths[keep])
    np.testing.assert_array_equal(data.conditions["source_file"], truth["source_file"][keep])
    np.testing.assert_array_equal(data.conditions["trial_in_file"], truth["trial_in_file"][keep])
    n_test_kept = int(keep[12:].sum())
    assert data.split.tolist() == ["train"] * int(keep[:12].sum()) + ["val"] * (
        n_test_kept // 4
    ) + ["test"] * (n_test_kept - n_test_kept // 4)

    # counts read back exactly; true rates explain them
    first = int(np.flatnonzero(keep)[0])
    np.testing.assert_array_equal(
        data.signals[0, : lengths[first]], raw["tx1"][0, first][:, :128].astype(np.float32)
    )
    starts = np.concatenate([[0], np.cumsum(lengths)])
    rates = np.concatenate(
        [truth["rates"][starts[i] : starts[i + 1], :128] for i in np.flatnonzero(keep)]
    )
    counts = data.signals[data.mask]
    assert abs(counts.mean() - rates.mean()) < 4 * np.sqrt(rates.sum()) / rates.size
    assert np.corrcoef(counts.mean(0), rates.mean(0))[0, 1] > 0.9
    assert all(len(s) > 0 for s in data.conditions["sentence"])


def test_simulator_is_deterministic(tmp_path):
    kwargs = dict(n_files=1, trials_per_file=3, min_bins=10, max_bins=20, seed=9)
    a = write_willett_like(tmp_path / "a", **kwargs)
    b = write_willett_like(tmp_path / "b", **kwargs)
    for x, y in zip(a["train"] + a["test"], b["train"] + b["test"], strict=True):
        mx, my = scipy.io.loadmat(x), scipy.io.loadmat(y)
        for i in range(mx["tx1"].shape[1]):
            np.testing.assert_array_equal(mx["tx1"][0, i], my["tx1"][0, i])
        np.testing.assert_array_equal(mx["sentenceText"], my["sentenceText"])
    assert not list((tmp_path / "a").rglob(".*"))  # no temporary files left behind


def test_transposed_trial_is_refused_with_file_trial_and_shape(tmp_path):
    path = tmp_path / "competitionData" / "train" / "t.mat"
    _save(path, [_trial(20, 0), _trial(200, 10).T, _trial(30, 20)], ["a", "b", "c"], [1, 1, 1])
    with pytest.raises(
        WillettFormatError,
        match=r"t\.mat: 'tx1' trial 1 has shape \(256, 200\)"
        r".*transposed",
    ) as err:
        read_competition_file(path, n_channels=128)
    assert "256 electrodes" in str(err.value)
    with pytest.raises(WillettFormatError, match=r"trial 1 has shape \(256, 200\)"):
        read_willett_mat({"train": [path]}, n_channels=128, max_bins=512)
    wrong_width = tmp_path / "w.mat"
    _save(wrong_width, [_trial(20, 0, n_channels=192)], ["a"], [1])
    with pytest.raises(WillettFormatError, match=r"w\.mat: 'tx1' trial 0 has shape \(20, 192\)"):
        read_competition_file(wrong_width, n_channels=128)
    counts, _, _ = read_competition_file(wrong_width, n_channels=128, n_electrodes=None)
    assert counts[0].shape == (20, 128)


def test_matlab_v73_file_is_refused_with_path_and_advice(tmp_path):
    import h5py

    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:  # how MATLAB lays out -v7.3 files
        f.create_dataset("blockIdx", data=np.ones((1, 3)))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    with pytest.raises(
        WillettFormatError,
        match=r"v73\.mat: MATLAB v7\.3 \(HDF5\).*not supported"
        r".*-v7",
    ):
        read_competition_file(path)


@pytest.mark.parametrize("content", [b"", b"x", b"not a mat file" * 7])
def test_file_shorter_than_a_mat_header_is_refused_with_path(tmp_path, content):
    path = tmp_path / "tiny.mat"
    path.write_bytes(content)
    assert len(content) < 128
    with pytest.raises(
        WillettFormatError,
        match=rf"tiny\.mat: not a readable MATLAB file "
        rf"\({len(content)} bytes",
    ):
        read_competition_file(path)
