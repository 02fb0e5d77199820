"""Reader for the Willett et al. (2023) speech-BCI `competitionData` .mat files (LDNS human data).

File format (data.md §3; competitionData readme): MATLAB files readable by scipy.io.loadmat with
- `tx1`..`tx4`: cell arrays with one T x 256 matrix of threshold-crossing counts per trial
  (20 ms bins; tx1 uses a -3.5 x RMS threshold). The readme calls them S x 1; loadmat of the
  real files gives shape (1, S) (code indexes `tx1[0, i]`). Both orientations are accepted.
- `sentenceText`: S x C character matrix (loadmat: S strings padded with spaces) or a cell array.
- `blockIdx`: S x 1 block numbers. `spikePow` is not used here.

Checks beyond the layout: every trial must have `n_electrodes` columns (256 in the real files; a
256 x T trial stored transposed is refused, not read as 256 bins), and a MATLAB v7.3 (HDF5) file
or a file too short to hold a MAT header is refused with its path.

What LDNS does and this reader reproduces (ldns.md §2): `tx1` only, the first 128 electrodes
(area 6v), trials longer than 512 bins dropped, the rest zero-padded at the end to 512 bins with
a mask. Splits: every trial of the "train" folder is "train". The kept trials of the "test"
folder, concatenated over its files in the given order (then in file order), are split
sequentially over the whole folder (not per file): the first quarter (floor(n / 4)) is "val",
the rest "test" (LDNS: 213 / 640).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from neurodiff.data.tidy import TidyDataset

WILLETT_BIN_SIZE_S = 0.02
WILLETT_N_ELECTRODES = 256
MAT_HEADER_BYTES = 128
log = logging.getLogger(__name__)
FOLDERS = ("train", "test")
VAL_FRACTION_OF_TEST = 0.25


class WillettFormatError(ValueError):
    """A competitionData .mat file lacks a key or has values of the wrong shape or type."""


def list_competition_files(root: str | os.PathLike) -> dict[str, list[Path]]:
    """The .mat files of a competitionData directory: {"train": [...], "test": [...]}, sorted.

    Hidden files (such as in-progress atomic writes) are skipped.
    """
    root = Path(root)
    files = {
        folder: sorted(p for p in (root / folder).glob("*.mat") if not p.name.startswith("."))
        for folder in FOLDERS
    }
    for folder, paths in files.items():
        if not paths:
            raise FileNotFoundError(
                f"no .mat files in {root / folder} (expected competitionData/{{train,test}}/*.mat)"
            )
    return files


def _load_mat(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"Willett .mat file not found: {path}")
    size = path.stat().st_size
    if size < MAT_HEADER_BYTES:
        raise WillettFormatError(
            f"{path}: not a readable MATLAB file ({size} bytes, shorter than "
            f"the {MAT_HEADER_BYTES}-byte MAT-file header)"
        )
    if h5py.is_hdf5(path):
        raise WillettFormatError(
            f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it as v7 in MATLAB "
            f"(s = load(f); save(f, '-struct', 's', '-v7')) or Octave (save -v7), as the "
            f"competitionData release is"
        )
    try:
        return scipy.io.loadmat(path)
    except Exception as err:  # scipy raises IndexError, ValueError, ... on malformed files
        raise WillettFormatError(
            f"{path}: not a readable MATLAB file ({type(err).__name__}: {err})"
        ) from err


def _require(mat: dict, key: str, path: Path) -> np.ndarray:
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise WillettFormatError(f"{path}: missing key '{key}' (found {found})")
    return np.asarray(mat[key])


def _cell_entries(value: np.ndarray, key: str, path: Path) -> list:
    if value.dtype != object or value.ndim != 2 or min(value.shape) > 1:
        raise WillettFormatError(
            f"{path}: '{key}' must be a 1 x S or S x 1 cell array, got "
            f"dtype {value.dtype} shape {value.shape}"
        )
    return list(value.ravel())


def _trial_counts(
    entry: object, index: int, n_channels: int, path: Path, n_electrodes: int | None
) -> np.ndarray:
    counts = np.asarray(entry)
    where = f"{path}: 'tx1' trial {index}"
    if counts.ndim != 2 or counts.shape[0] < 1 or counts.dtype.kind not in "uif":
        raise WillettFormatError(
            f"{where} must be a non-empty numeric T x channels matrix, "
            f"got dtype {counts.dtype} shape {counts.shape}"
        )
    if n_electrodes is not None and counts.shape[1] != n_electrodes:
        if counts.shape[0] == n_electrodes:
            raise WillettFormatError(
                f"{where} has shape {counts.shape}: it looks stored transposed (electrodes x "
                f"bins); expected bins x {n_electrodes} electrodes"
            )
        if counts.shape[1] >= n_channels:
            raise WillettFormatError(
                f"{where} has shape {counts.shape}: expected bins x {n_electrodes} electrodes"
            )
    if counts.shape[1] < n_channels:
        raise WillettFormatError(
            f"{where} has {counts.shape[1]} channels, fewer than the "
            f"n_channels={n_channels} requested (shape {counts.shape})"
        )
    counts = counts[:, :n_channels].astype(np.float32)
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise WillettFormatError(f"{where} has negative or non-finite counts")
    return counts


def _sentences(value: np.ndarray, n_trials: int, path: Path) -> list[str]:
    if value.dtype.kind == "U":
        texts = [str(s) for s in value.ravel()]
    elif value.dtype == object:
        texts = [str(np.asarray(s).ravel()[0]) if np.size(s) else "" for s in value.ravel()]
    else:
        raise WillettFormatError(
            f"{path}: 'sentenceText' must be a character matrix or a cell "
            f"array of strings, got dtype {value.dtype}"
        )
    if len(texts) != n_trials:
        raise WillettFormatError(
            f"{path}: 'sentenceText' has {len(texts)} entries but 'tx1' has {n_trials} trials"
        )
    return [t.rstrip() for t in texts]


def _blocks(value: np.ndarray, n_trials: int, path: Path) -> np.ndarray:
    if value.dtype.kind not in "uif" or value.size != n_trials:
        raise WillettFormatError(
            f"{path}: 'blockIdx' must hold {n_trials} numbers, got dtype "
            f"{value.dtype} shape {value.shape}"
        )
    return value.ravel().astype(np.int64)


def read_competition_file(
    path: str | os.PathLike,
    n_channels: int = 128,
    n_electrodes: int | None = WILLETT_N_ELECTRODES,
) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    """Trials of one .mat file: tx1 counts (T_i, n_channels) per trial, sentences, block ids.

    Every trial must have `n_electrodes` columns; with None, as many as most trials of the file.
    """
    path = Path(path)
    mat = _load_mat(path)
    entries = _cell_entries(_require(mat, "tx1", path), "tx1", path)
    if n_electrodes is None:
        widths = [np.shape(e)[1] for e in entries if np.ndim(e) == 2]
        n_electrodes = max(set(widths), key=widths.count) if widths else None
    counts = [_trial_counts(e, i, n_channels, path, n_electrodes) for i, e in enumerate(entries)]
    sentences = _sentences(_require(mat, "sentenceText", path), len(counts), path)
    blocks = _blocks(_require(mat, "blockIdx", path), len(counts), path)
    return counts, sentences, blocks


def _folder_labels(folder: str, n_kept: int) -> np.ndarray:
    if folder == "train":
        return np.full(n_kept, "train", dtype=object)
    labels = np.full(n_kept, "test", dtype=object)
    labels[: int(np.floor(n_kept * VAL_FRACTION_OF_TEST))] = "val"
    return labels


def _collect_trials(
    files_by_split: Mapping[str, Sequence[str | os.PathLike]],
    n_channels: int,
    max_bins: int,
    n_electrodes: int | None,
) -> tuple[list[np.ndarray], list[str], dict, dict[str, int]]:
    """Kept trials, their split labels, their conditions and the dropped count per folder."""
    trials, split, dropped = [], [], {}
    cond = {k: [] for k in ("sentence", "block", "source_file", "length_bins", "trial_in_file")}
    for folder in FOLDERS:
        n_before, dropped[folder] = len(trials), 0
        for path in map(Path, files_by_split.get(folder, [])):
            counts, sentences, blocks = read_competition_file(path, n_channels, n_electrodes)
            for i, (x, text, block) in enumerate(zip(counts, sentences, blocks, strict=True)):
                if len(x) > max_bins:
                    dropped[folder] += 1
                    continue
                trials.append(x)
                values = (text, block, f"{folder}/{path.name}", len(x), i)
                for key, val in zip(cond, values, strict=True):
                    cond[key].append(val)
        split.extend(_folder_labels(folder, len(trials) - n_before))
    return trials, split, cond, dropped


def _pad(trials: list[np.ndarray], max_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad trials at the end to (n, max_bins, channels); mask marks observed bins."""
    signals = np.zeros((len(trials), max_bins, trials[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(trials), max_bins), dtype=bool)
    for i, x in enumerate(trials):
        signals[i, : len(x)], mask[i, : len(x)] = x, True
    return signals, mask


def read_willett_mat(
    files_by_split: Mapping[str, Sequence[str | os.PathLike]],
    n_channels: int = 128,
    max_bins: int = 512,
    name: str = "willett",
    n_electrodes: int | None = WILLETT_N_ELECTRODES,
) -> TidyDataset:
    """Tidy dataset of tx1 counts from competitionData files, keyed by folder ("train"/"test")."""
    unknown = sorted(set(files_by_split) - set(FOLDERS))
    if unknown:
        raise ValueError(f"files_by_split has keys {unknown}; allowed folders: {list(FOLDERS)}")
    if n_channels < 1 or max_bins < 1:
        raise ValueError(f"n_channels and max_bins must be positive, got {n_channels}, {max_bins}")
    trials, split, cond, dropped = _collect_trials(
        files_by_split, n_channels, max_bins, n_electrodes
    )
    if not trials:
        raise ValueError(f"no trials of at most {max_bins} bins in {dict(files_by_split)}")
    if any(dropped.values()):
        log.info(
            "%s: dropped trials longer than max_bins=%d: %s (kept %d)",
            name,
            max_bins,
            dropped,
            len(trials),
        )
    signals, mask = _pad(trials, max_bins)
    meta = {
        "source": "Willett et al. 2023 competitionData (Dryad doi:10.5061/dryad.x69p8czpq)",
        "feature": "tx1",
        "n_channels": n_channels,
        "max_bins": max_bins,
        "files": [
            f"{folder}/{Path(p).name}" for folder in FOLDERS for p in files_by_split.get(folder, [])
        ],
        "dropped_longer_than_max_bins": dropped,
        "val_fraction_of_test": VAL_FRACTION_OF_TEST,
        "padding": "zeros at the end; mask marks observed bins",
    }
    return TidyDataset(
        name=name,
        signals=signals,
        split=np.asarray(split, dtype=str),
        bin_size_s=WILLETT_BIN_SIZE_S,
        signal_kind="counts",
        mask=mask,
        conditions={
            "sentence": np.asarray(cond["sentence"], dtype=str),
            "block": np.asarray(cond["block"], dtype=np.int64),
            "source_file": np.asarray(cond["source_file"], dtype=str),
            "length_bins": np.asarray(cond["length_bins"], dtype=np.int64),
            "trial_in_file": np.asarray(cond["trial_in_file"], dtype=np.int64),
        },
        meta=meta,
    )
