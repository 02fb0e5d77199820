"""Reader of BehaveNet-format HDF5 sessions (Musall et al. 2019 widefield data) into a TidyDataset.

BehaveNet layout (reference/benediff.md §2): groups ``images``, ``neural``, ``labels`` and
optionally ``labels_masks``, each with one dataset per trial named ``trial_%04i``:

- images uint8 (T, views, H, W) (a single-view file may store (T, H, W));
- neural float (T, n_components): LocaNMF components of the whole dorsal cortex;
- labels float (T, n_labels), labels_masks (T, n_labels) with 1 where a label is valid;
- regions/indxs_consolidate_lr/<REGION_HEMI> (and regions/indxs/<AREA_HEMI>): integer indices
  of each region's components in ``neural``.

Choices made here:

- signals are the neural components of the chosen regions, concatenated in the order the
  regions are given (within a region, in the file's index order);
- trials are cut to one common window: ``frame_range`` = (start, stop) if given (every trial must
  reach ``stop``), otherwise all frames, and then every trial must have the same length (one short
  trial is refused rather than silently cutting every trial to its length);
- every trial of a group must have the same shape past the frame axis (components, labels, views
  and frame size) and at least one frame; the error names the file, group, trial and shapes;
- masked labels (labels_masks == 0) become NaN;
- the split is a seeded random permutation of trials: the first 80 % train, the next 10 % val,
  the rest test (``split_trials``), identical for identical (n_trials, seed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from neurodiff.data.tidy import SPLITS, TidyDataset, TidyFormatError, open_hdf5

TRIAL_KEY = re.compile(r"^trial_(\d+)$")
TRIAL_LAYOUT = {
    "neural": ((2,), "(T, n_components)"),
    "labels": ((2,), "(T, n_labels)"),
    "labels_masks": ((2,), "(T, n_labels)"),
    "images": ((3, 4), "(T, views, H, W) or (T, H, W)"),
}
REGION_GROUP = "indxs_consolidate_lr"
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


class BehaveNetFormatError(TidyFormatError):
    """A BehaveNet HDF5 file lacks a group, key or region, or holds inconsistent arrays."""


def split_trials(
    n_trials: int, seed: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS
) -> np.ndarray:
    """Seeded random train/val/test labels (n_trials,): a permutation cut at the fractions."""
    if len(fractions) != len(SPLITS) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be {len(SPLITS)} numbers summing to 1, got {fractions}")
    n_train = int(round(fractions[0] * n_trials))
    n_val = int(round(fractions[1] * n_trials))
    labels = np.array(
        ["train"] * n_train + ["val"] * n_val + ["test"] * (n_trials - n_train - n_val)
    )
    split = np.empty(n_trials, dtype=labels.dtype)
    split[np.random.default_rng(seed).permutation(n_trials)] = labels
    return split


def read_behavenet_hdf5(
    path: str | os.PathLike,
    regions: list[str] | None = None,
    label_names: list[str] | None = None,
    label_indices: list[int] | None = None,
    frame_range: tuple[int, int] | None = None,
    load_video: bool = True,
    *,
    session: str,
    bin_size_s: float = 1 / 30,
    split_seed: int = 0,
    region_group: str = REGION_GROUP,
    name: str | None = None,
) -> TidyDataset:
    """Read one BehaveNet session: the chosen regions' components, labels and video per trial.

    `regions` are keys of regions/<region_group> (None: all of them, or every component if the
    file has no regions group). `label_indices` picks label columns (None: all); `label_names`
    names the picked columns (None: label_<column>).
    """
    path = Path(path)
    with open_hdf5(path, "BehaveNet file", BehaveNetFormatError) as f:
        wants_labels = "labels" in f or label_indices is not None or label_names is not None
        groups = ["neural"] + (["labels"] if wants_labels else [])
        groups += ["images"] if load_video else []
        trials = _common_trials(f, path, groups)
        lengths = _trial_lengths(f, path, groups, trials)
        n_components = f["neural"][trials[0]].shape[-1]
        region_of, components = _select_components(f, path, regions, region_group, n_components)
        start, stop = _frame_window(path, trials, lengths, frame_range)
        signals = _stack(f, "neural", trials, start, stop)[..., components]
        behavior, names = _read_labels(f, path, trials, start, stop, label_indices, label_names)
        video = _read_video(f, path, trials, start, stop) if load_video else None
    trial_index = np.array([int(TRIAL_KEY.match(t).group(1)) for t in trials])
    meta = {
        "source": str(path),
        "session": session,
        "frame_range": [start, stop],
        "region_group": region_group,
        "regions": list(dict.fromkeys(region_of)),
        "label_indices": label_indices,
        "split_seed": split_seed,
        "split_fractions": list(SPLIT_FRACTIONS),
    }
    try:
        return TidyDataset(
            name=name or f"behavenet_{session}",
            signals=signals,
            split=split_trials(len(trials), split_seed),
            bin_size_s=bin_size_s,
            signal_kind="continuous",
            behavior=behavior,
            behavior_names=names,
            video=video,
            conditions={"session": np.array([session] * len(trials)), "trial_index": trial_index},
            channels={"region": np.array(region_of), "component_index": components},
            meta=meta,
        )
    except TidyFormatError as err:
        raise BehaveNetFormatError(f"{path}: {err}") from err


def _common_trials(f: h5py.File, path: Path, groups: list[str]) -> list[str]:
    """Trial keys present in every needed group, in trial-number order."""
    per_group = {}
    for group in groups:
        if group not in f:
            raise BehaveNetFormatError(
                f"{path}: missing group '{group}'; top-level keys: {sorted(f.keys())}"
            )
        per_group[group] = {k for k in f[group] if TRIAL_KEY.match(k)}
        if not per_group[group]:
            raise BehaveNetFormatError(f"{path}: group '{group}' has no trial_%04i datasets")
    trials = set.intersection(*per_group.values())
    every = set.union(*per_group.values())
    for group, keys in per_group.items():
        missing = sorted(every - keys, key=_trial_number)
        if missing:
            having = [g for g, k in per_group.items() if missing[0] in k]
            raise BehaveNetFormatError(
                f"{path}: group '{group}' lacks {len(missing)} trial(s) {missing[:5]} present in "
                f"group(s) {having}"
            )
    return sorted(trials, key=_trial_number)


def _trial_number(key: str) -> int:
    return int(TRIAL_KEY.match(key).group(1))


def _trial_lengths(f: h5py.File, path: Path, groups: list[str], trials: list[str]) -> list[int]:
    """Frames per trial; refuse empty trials, wrong ranks, shapes unlike the first trial's."""
    checked = list(groups)
    if "labels" in groups and "labels_masks" in f:
        checked.append("labels_masks")
        _require_trials(f, path, "labels_masks", trials)
    first: dict[str, tuple[str, tuple[int, ...]]] = {}
    lengths = []
    for trial in trials:
        shapes = {g: tuple(f[g][trial].shape) for g in checked}
        for group, shape in shapes.items():
            ranks, layout = TRIAL_LAYOUT[group]
            where = f"{path}: '{group}/{trial}' has shape {shape}"
            if len(shape) not in ranks:
                raise BehaveNetFormatError(f"{where}; expected {layout}")
            if shape[0] == 0:
                raise BehaveNetFormatError(f"{where}: an empty trial (0 frames)")
            ref_trial, ref_shape = first.setdefault(group, (trial, shape))
            if shape[1:] != ref_shape[1:]:
                raise BehaveNetFormatError(
                    f"{where} but '{group}/{ref_trial}' has shape "
                    f"{ref_shape}: every trial needs {layout} alike"
                )
        if len({shape[0] for shape in shapes.values()}) > 1:
            raise BehaveNetFormatError(
                f"{path}: {trial} has different lengths per group (shapes {shapes})"
            )
        if "labels_masks" in shapes and shapes["labels_masks"] != shapes["labels"]:
            raise BehaveNetFormatError(
                f"{path}: 'labels_masks/{trial}' has shape "
                f"{shapes['labels_masks']} but 'labels/{trial}' has "
                f"{shapes['labels']}"
            )
        lengths.append(shapes["neural"][0])
    return lengths


def _select_components(
    f: h5py.File, path: Path, regions: list[str] | None, region_group: str, n_components: int
) -> tuple[list[str], np.ndarray]:
    """(region of each selected component, component indices into `neural`)."""
    key = f"regions/{region_group}"
    if key not in f:
        if regions is not None:
            present = sorted(f["regions"].keys()) if "regions" in f else []
            raise BehaveNetFormatError(
                f"{path}: missing group '{key}' needed for regions "
                f"{regions}; groups under 'regions': {present}"
            )
        return ["all"] * n_components, np.arange(n_components)
    available = list(f[key].keys())
    chosen = available if regions is None else list(regions)
    unknown = [r for r in chosen if r not in available]
    if unknown:
        raise BehaveNetFormatError(
            f"{path}: regions {unknown} not in '{key}'; regions present: {sorted(available)}"
        )
    region_of, indices = [], []
    for region in chosen:
        idx = np.asarray(f[key][region][()]).ravel()
        if idx.size and (
            not np.all(idx == np.round(idx)) or idx.min() < 0 or idx.max() >= n_components
        ):
            raise BehaveNetFormatError(
                f"{path}: '{key}/{region}' must hold integer indices in "
                f"[0, {n_components}), got {idx.tolist()}"
            )
        region_of += [region] * idx.size
        indices.append(idx.astype(np.int64))
    return region_of, np.concatenate(indices)


def _frame_window(
    path: Path, trials: list[str], lengths: list[int], frame_range: tuple[int, int] | None
) -> tuple[int, int]:
    """Common [start, stop) frame window: `frame_range`, or all frames of equally long trials."""
    shortest = min(lengths)
    if frame_range is None:
        if len(set(lengths)) > 1:
            short = [t for t, n in zip(trials, lengths, strict=True) if n == shortest]
            counts = ", ".join(f"{n} x{lengths.count(n)}" for n in sorted(set(lengths)))
            raise BehaveNetFormatError(
                f"{path}: trials differ in length ({shortest} to {max(lengths)} frames); "
                f"'neural/{short[0]}' has {shortest} frames (trials that short: {short[:5]}; "
                f"frames x trials: {counts}). Reading them would cut every trial to {shortest} "
                f"frames: fix or remove the short trials, or pass frame_range=(start, stop) to "
                f"choose a common window"
            )
        return 0, shortest
    start, stop = (int(v) for v in frame_range)
    if not 0 <= start < stop <= shortest:
        raise BehaveNetFormatError(
            f"{path}: frame_range {frame_range} must satisfy "
            f"0 <= start < stop <= {shortest} (the shortest trial)"
        )
    return start, stop


def _stack(f: h5py.File, group: str, trials: list[str], start: int, stop: int) -> np.ndarray:
    """One group's trials, cut to [start, stop), stacked trial-major."""
    first = f[group][trials[0]]
    out = np.empty((len(trials), stop - start, *first.shape[1:]), dtype=first.dtype)
    for i, trial in enumerate(trials):
        out[i] = f[group][trial][start:stop]
    return out


def _read_labels(
    f: h5py.File,
    path: Path,
    trials: list[str],
    start: int,
    stop: int,
    label_indices: list[int] | None,
    label_names: list[str] | None,
) -> tuple[np.ndarray | None, list[str]]:
    """Selected label columns (trials, T, K) with masked entries as NaN, and their names."""
    if "labels" not in f:
        return None, []
    labels = _stack(f, "labels", trials, start, stop).astype(np.float32)
    if "labels_masks" in f:
        masks = _stack(
            f, "labels_masks", _require_trials(f, path, "labels_masks", trials), start, stop
        )
        labels[masks == 0] = np.nan
    n_labels = labels.shape[-1]
    columns = list(range(n_labels)) if label_indices is None else [int(i) for i in label_indices]
    bad = [i for i in columns if not 0 <= i < n_labels]
    if bad:
        raise BehaveNetFormatError(
            f"{path}: label_indices {bad} out of range; 'labels' has {n_labels} columns"
        )
    names = [f"label_{i}" for i in columns] if label_names is None else list(label_names)
    if len(names) != len(columns):
        raise BehaveNetFormatError(
            f"{path}: {len(names)} label_names {names} for "
            f"{len(columns)} selected label columns {columns}"
        )
    return labels[..., columns], names


def _require_trials(f: h5py.File, path: Path, group: str, trials: list[str]) -> list[str]:
    missing = [t for t in trials if t not in f[group]]
    if missing:
        raise BehaveNetFormatError(f"{path}: group '{group}' lacks trials {missing[:5]}")
    return trials


def _read_video(f: h5py.File, path: Path, trials: list[str], start: int, stop: int) -> np.ndarray:
    """Frames (trials, T, views, H, W) uint8; a (T, H, W) file is read as one view."""
    dtype = f["images"][trials[0]].dtype
    if dtype != np.uint8:
        raise BehaveNetFormatError(f"{path}: 'images/{trials[0]}' must be uint8, got {dtype}")
    video = _stack(f, "images", trials, start, stop)
    if video.ndim == 4:
        video = video[:, :, None]
    if video.ndim != 5:
        raise BehaveNetFormatError(
            f"{path}: 'images' trials must be (T, views, H, W), got {video.shape[1:]}"
        )
    return video
