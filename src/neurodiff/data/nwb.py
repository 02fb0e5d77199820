"""Readers for the Neural Latents Benchmark motor-cortex NWB files, binned like nlb_tools 0.0.4.

MC_Maze (DANDI 000128, and its Large/Medium/Small subsets 000138/000139/000140) and MC_RTT
(DANDI 000129) are read straight from HDF5 with h5py and numpy, without building nlb_tools'
pandas frame on a 1 ms grid. The numbers are those of

    NWBDataset(path) -> .resample(bin_ms) -> make_train_input_tensors(..., include_behavior=True)

for the trials of the NLB "train" and "val" splits:

* Grid: 1 ms samples from 0 to round(max over units of the last ``obs_intervals`` end, in ms).
  A spike at t seconds falls in sample int(round(1000 t, 6)); samples outside the observation
  intervals of the *first* unit of its group (held-in or held-out) are invalid and their spikes
  are discarded. ``bin_ms`` bins sum consecutive samples from 0 (the last bin may be partial);
  a bin is invalid when its first sample is.
* Continuous signals are placed on the same grid (timestamps must lie on it), gaps are filled by
  linear interpolation, the signal is decimated by ``bin_ms`` with ``scipy.signal.decimate``
  (FIR, n=500, zero phase) and bins whose first sample was missing are set to NaN again.
* Trial windows: trial times are converted to integer nanoseconds exactly as
  ``pandas.to_timedelta`` does; a window holds the bins whose start lies in
  [align + w0, align + w1) (nlb_tools: ``slice_indexer(align + w0, align + w1 - 1 us)``).
  Behaviour uses the same window shifted by the preset lag and is NaN where it leaves the
  recording or falls on missing samples (nlb_tools builds it with ``allow_nans=True``).

nlb_tools itself (with pandas 2.x) needs behaviour timestamps that cover the whole grid from 0:
``pd.concat`` does not sort the union of a partial behaviour index with the spike grid, and
``resample`` then fails. This reader accepts gaps and treats them as missing samples.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from scipy import signal

from neurodiff.data.tidy import TidyDataset

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
DECIMATE_FIR_ORDER = 500
NLB_SPLITS = ("train", "val")
AXES = "xyz"
EXPECTED_DROPS = ("split_not_train_or_val",)  # NLB "test"/"none" trials: dropped by design
log = logging.getLogger(__name__)


class NLBFileError(ValueError):
    """An NWB file does not have the layout of the NLB dandisets."""


@dataclass(frozen=True)
class NLBPreset:
    """Alignment of one NLB dataset as in nlb_tools' ``make_tensors.PARAMS``."""

    align_field: str
    window_ms: tuple[int, int]
    allow_overlap: bool
    behavior_field: str
    lag_ms: int
    maze_conditions: bool


_MAZE = {"align_field": "move_onset_time", "window_ms": (-250, 450), "allow_overlap": False,
         "behavior_field": "hand_vel", "maze_conditions": True}
PRESETS: dict[str, NLBPreset] = {
    "mc_maze": NLBPreset(**_MAZE, lag_ms=100),
    "mc_maze_large": NLBPreset(**_MAZE, lag_ms=120),
    "mc_maze_medium": NLBPreset(**_MAZE, lag_ms=120),
    "mc_maze_small": NLBPreset(**_MAZE, lag_ms=120),
    "mc_rtt": NLBPreset(align_field="start_time", window_ms=(0, 600), allow_overlap=True,
                        behavior_field="finger_vel", lag_ms=140, maze_conditions=False),
}


@dataclass
class UnitTable:
    """Spike times, observation intervals and held-out flags of the ``/units`` table."""

    ids: np.ndarray
    heldout: np.ndarray
    spike_times: list[np.ndarray]
    obs_intervals: list[np.ndarray]


def read_nlb_nwb(path: str | os.PathLike, dataset: str, bin_ms: int = 5, source: str = "nwb",
                 behavior_lag_ms: int | None = None) -> TidyDataset:
    """Read an NLB train NWB file into trial-aligned counts, exactly as nlb_tools bins it.

    Returns a TidyDataset named ``dataset`` with

    * ``signals``: float32 spike counts (trials, T, N), held-in units then held-out units, each
      group in ``/units`` order; ``channels["heldout"]`` and ``channels["unit_id"]``;
    * ``behavior``: the preset's velocity (``hand_vel`` for MC_Maze, ``finger_vel`` for MC_RTT) in
      the file's units (mm/s; LDNS divides by 1e3), windowed ``behavior_lag_ms`` later than the
      spikes (default: the nlb_tools preset lag, 100 ms for mc_maze, 120 ms for the maze subsets,
      140 ms for mc_rtt; LDNS's notes mention 80 ms for MC_Maze);
    * ``conditions``: ``nlb_split`` (original NLB split), ``trial_id`` (``/intervals/trials/id``)
      and, for the maze datasets, ``trial_type``, ``trial_version``, ``condition`` (index of the
      (trial_type, trial_version) pair among the sorted pairs of all trials in the file) and
      ``reach_angle``: atan2 of the net hand displacement, the integral of the 1 kHz ``hand_vel``
      over [move_onset, move_onset + window end) (450 ms), NaN if a sample is missing;
    * ``split``: NLB "train" -> "train"; of the NLB "val" trials in file order, the first
      n_val // 2 -> "val" and the rest -> "test".

    Units without a spike in any kept window are listed in ``meta["silent_unit_ids"]``; they and
    the dropped trials are logged (a warning for all but the by-design split drops).

    Dropped trials (counted by reason in ``meta["dropped_trials"]``): NLB split other than
    "train"/"val" ("none", or "test" trials, which nlb_tools never puts in training tensors);
    missing alignment time; a window that leaves the recording grid; a window with an invalid
    (outside ``obs_intervals``) held-in or held-out bin or a missing behaviour bin - nlb_tools drops
    such time points and with them the trial. Unlike nlb_tools, a MC_Maze window that runs into the
    next trial's window is not shortened (nlb_tools would shorten it and then fail to stack).
    """
    if dataset not in PRESETS:
        raise ValueError(f"unknown NLB dataset {dataset!r}; known: {sorted(PRESETS)}")
    if bin_ms < 1:
        raise ValueError(f"bin_ms must be a positive whole number of ms, got {bin_ms}")
    preset = PRESETS[dataset]
    lag_ms = preset.lag_ms if behavior_lag_ms is None else int(behavior_lag_ms)
    n_bins = _window_bins(preset.window_ms, bin_ms)
    path = Path(path)
    with _open_nwb(path) as f:
        units = read_units(f, path)
        trials = _read_trials(f, path, preset)
        beh_times, beh_values = read_timeseries(f, path, preset.behavior_field)

    n_ms = recording_length_ms(units)
    _check_spikes_on_grid(units, n_ms, path)
    heldin, heldout = np.flatnonzero(~units.heldout), np.flatnonzero(units.heldout)
    order = np.concatenate([heldin, heldout])
    group_valid_ms = {flag: valid_samples(units.obs_intervals[members[0]], n_ms)
                      for flag, members in ((False, heldin), (True, heldout)) if members.size}
    beh_1ms = place_on_grid(beh_times, beh_values, n_ms, path, preset.behavior_field)
    beh_binned = resample_continuous(beh_1ms, bin_ms)

    align = trials[preset.align_field]
    keep, dropped = _select_trials(
        trials["split"], align, preset.window_ms, bin_ms, n_bins,
        [valid_bins(v, bin_ms) for v in group_valid_ms.values()], beh_binned)
    if not keep.any():
        raise NLBFileError(f"{path}: no trial survives the NLB alignment (dropped: {dropped})")
    align_ns = seconds_to_ns(align[keep])
    window = window_start_bins(align_ns, preset.window_ms[0], bin_ms)[:, None] + np.arange(n_bins)
    signals = _counts_in_windows(units, order, group_valid_ms, window, bin_ms)
    behavior = gather_windows(beh_binned, window_start_bins(
        align_ns, preset.window_ms[0] + lag_ms, bin_ms), n_bins)

    silent = units.ids[order][signals.sum(axis=(0, 1)) == 0]
    _log_losses(path, dropped, int(align.size), silent, int(order.size))

    nlb_split = trials["split"][keep]
    conditions = {"nlb_split": nlb_split, "trial_id": trials["id"][keep]}
    if preset.maze_conditions:
        conditions.update(_maze_conditions(trials, keep, beh_1ms, align_ns, preset.window_ms[1]))
    meta = {
        "source": source, "source_path": str(path), "dataset": dataset, "bin_ms": bin_ms,
        "align_field": preset.align_field, "window_ms": list(preset.window_ms),
        "behavior_field": preset.behavior_field, "behavior_lag_ms": lag_ms,
        "behavior_unit": "mm/s", "n_trials_in_file": int(align.size),
        "n_dropped_trials": int(sum(dropped.values())), "dropped_trials": dropped,
        "n_heldin": int(heldin.size), "n_heldout": int(heldout.size),
        "n_silent_units": int(silent.size), "silent_unit_ids": silent.tolist(),
        "n_trials_with_nan_behavior": int(np.isnan(behavior).any(axis=(1, 2)).sum()),
        "split_rule": "NLB train -> train; NLB val in file order: first half val, rest test",
    }
    return TidyDataset(
        name=dataset, signals=signals, split=map_nlb_split(nlb_split), bin_size_s=bin_ms / 1000,
        signal_kind="counts", behavior=behavior,
        behavior_names=[f"{preset.behavior_field}_{a}" for a in AXES[:behavior.shape[2]]],
        conditions=conditions,
        channels={"heldout": units.heldout[order].astype(bool), "unit_id": units.ids[order]},
        meta=meta,
    )


def map_nlb_split(nlb_split: np.ndarray) -> np.ndarray:
    """Map NLB splits to train/val/test: train stays, val is halved in order into val and test."""
    nlb_split = np.asarray(nlb_split).astype(str)
    split = nlb_split.copy()
    val = np.flatnonzero(nlb_split == "val")
    split[val[: val.size // 2]] = "val"
    split[val[val.size // 2:]] = "test"
    return split


def seconds_to_ns(seconds: np.ndarray) -> np.ndarray:
    """Convert finite float seconds to int64 ns bit-for-bit as ``pandas.to_timedelta(unit="s")``."""
    t = np.asarray(seconds, dtype=np.float64)
    whole = t.astype(np.int64)
    frac = np.round(t - whole, 9)
    return whole * NS_PER_S + (frac * 1e9).astype(np.int64)


def window_start_bins(align_ns: np.ndarray, offset_ms: int, bin_ms: int) -> np.ndarray:
    """Index of the first bin whose start is at or after ``align + offset``."""
    start_ns = np.asarray(align_ns, dtype=np.int64) + offset_ms * NS_PER_MS
    return -((-start_ns) // (bin_ms * NS_PER_MS))


def recording_length_ms(units: UnitTable) -> int:
    """Number of 1 ms grid samples: the largest last ``obs_intervals`` end, rounded to ms."""
    last_ends = [iv[-1, 1] for iv in units.obs_intervals if len(iv)]
    return int(np.round(max(last_ends) * 1000.0))


def valid_samples(obs_intervals: np.ndarray, n_ms: int) -> np.ndarray:
    """Boolean 1 ms grid, True inside the observation intervals (nlb_tools' rounding)."""
    iv = np.asarray(obs_intervals, dtype=np.float64).reshape(-1, 2)
    starts = np.clip(np.ceil(np.round(iv[:, 0] * 1000.0, 6)).astype(np.int64), 0, n_ms)
    ends = np.clip(np.floor(np.round(iv[:, 1] * 1000.0, 6)).astype(np.int64), 0, n_ms)
    ok = ends > starts
    edges = np.zeros(n_ms + 1, dtype=np.int64)
    np.add.at(edges, starts[ok], 1)
    np.add.at(edges, ends[ok], -1)
    return np.cumsum(edges[:-1]) > 0


def valid_bins(valid_ms: np.ndarray, bin_ms: int) -> np.ndarray:
    """A bin is valid when its first 1 ms sample is (nlb_tools ``resample``)."""
    return valid_ms[::bin_ms]


def spike_samples(spike_times: np.ndarray) -> np.ndarray:
    """1 ms grid sample of each spike: int(round(1000 t, 6)), truncating like nlb_tools."""
    return np.round(np.asarray(spike_times, dtype=np.float64) * 1000.0, 6).astype(np.int64)


def bin_spikes(spike_times: np.ndarray, valid_ms: np.ndarray, bin_ms: int) -> np.ndarray:
    """Counts per bin of one unit; spikes on invalid 1 ms samples are discarded."""
    samples = spike_samples(spike_times)
    samples = samples[valid_ms[samples]]
    n_binned = -(-valid_ms.size // bin_ms)
    return np.bincount(samples // bin_ms, minlength=n_binned).astype(np.float32)


def place_on_grid(times: np.ndarray, values: np.ndarray, n_ms: int, path: Path,
                  name: str) -> np.ndarray:
    """Put a sampled signal on the 1 ms grid; samples the signal lacks are NaN."""
    ns = seconds_to_ns(times)
    sample = (ns + NS_PER_MS // 2) // NS_PER_MS
    off_grid = np.abs(ns - sample * NS_PER_MS) >= 1000
    outside = (sample < 0) | (sample >= n_ms)
    if off_grid.any() or outside.any():
        bad = times[np.flatnonzero(off_grid | outside)[0]]
        raise NLBFileError(
            f"{path}: timestamps of '{name}' must lie on the 1 ms grid [0, {n_ms}) ms set by "
            f"units/obs_intervals; first offending timestamp {bad!r} s (nlb_tools drops the series)")
    grid = np.full((n_ms, values.shape[1]), np.nan, dtype=values.dtype)
    grid[sample] = values
    return grid


def resample_continuous(grid_1ms: np.ndarray, bin_ms: int) -> np.ndarray:
    """nlb_tools ``resample``: interpolate gaps, FIR-decimate, restore NaN at missing bins."""
    if bin_ms == 1:
        return grid_1ms.copy()
    missing = np.isnan(grid_1ms[::bin_ms])
    filled = grid_1ms.copy()
    positions = np.arange(filled.shape[0])
    for k in range(filled.shape[1]):
        gaps = np.isnan(filled[:, k])
        if gaps.all():
            continue
        if gaps.any():
            filled[gaps, k] = np.interp(positions[gaps], positions[~gaps], filled[~gaps, k])
    out = signal.decimate(filled, bin_ms, axis=0, n=DECIMATE_FIR_ORDER, ftype="fir")
    out = out.astype(grid_1ms.dtype, copy=False)
    out[missing] = np.nan
    return out


def gather_windows(binned: np.ndarray, starts: np.ndarray, n_bins: int) -> np.ndarray:
    """(trials, n_bins, K) windows from a (bins, K) array; NaN outside the array."""
    idx = starts[:, None] + np.arange(n_bins)
    inside = (idx >= 0) & (idx < binned.shape[0])
    out = binned[np.clip(idx, 0, binned.shape[0] - 1)].astype(np.float64)
    out[~inside] = np.nan
    return out


def read_units(f: h5py.File, path: Path) -> UnitTable:
    """Read ``/units``: ids, ``heldout``, ragged ``spike_times`` and ``obs_intervals``."""
    for key in ("units/id", "units/heldout"):
        _require(f, key, path)
    heldout = f["units/heldout"][()].astype(bool)
    spikes = read_ragged(f, "units/spike_times", path)
    intervals = [np.asarray(iv, dtype=np.float64).reshape(-1, 2)
                 for iv in read_ragged(f, "units/obs_intervals", path)]
    if not (len(spikes) == len(intervals) == heldout.size):
        raise NLBFileError(f"{path}: units/spike_times, units/obs_intervals and units/heldout "
                           f"have different lengths ({len(spikes)}, {len(intervals)}, "
                           f"{heldout.size})")
    if not any(len(iv) for iv in intervals):
        raise NLBFileError(f"{path}: 'units/obs_intervals' holds no interval")
    return UnitTable(ids=f["units/id"][()], heldout=heldout, spike_times=spikes,
                     obs_intervals=intervals)


def read_ragged(f: h5py.File, key: str, path: Path) -> list[np.ndarray]:
    """Split a ragged NWB column (``key`` plus ``key_index``) into one array per row."""
    _require(f, key, path)
    _require(f, f"{key}_index", path)
    ends = f[f"{key}_index"][()].astype(np.int64)
    return np.split(f[key][()], ends[:-1])


def read_timeseries(f: h5py.File, path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (s) and (samples, K) data of TimeSeries ``name`` in any processing module."""
    candidates = [f"processing/{m}/{name}" for m in f.get("processing", {})] + [
        f"acquisition/{name}"]
    found = [c for c in candidates if c in f]
    if not found:
        raise NLBFileError(f"{path}: missing TimeSeries '{name}' (looked in {candidates})")
    series = f[found[0]]
    if "data" not in series:
        raise NLBFileError(f"{path}: missing '{found[0]}/data'")
    data = series["data"][()]
    data = data.reshape(data.shape[0], -1)
    if "timestamps" in series:
        times = series["timestamps"][()]
    elif "starting_time" in series:
        start = series["starting_time"]
        times = start[()] + np.arange(data.shape[0]) / float(start.attrs["rate"])
    else:
        raise NLBFileError(f"{path}: '{found[0]}' has neither timestamps nor starting_time")
    if times.shape[0] != data.shape[0]:
        raise NLBFileError(f"{path}: '{found[0]}' has {data.shape[0]} samples but "
                           f"{times.shape[0]} timestamps")
    return times.astype(np.float64), data


def _read_trials(f: h5py.File, path: Path, preset: NLBPreset) -> dict[str, np.ndarray]:
    columns = ["id", "start_time", "stop_time", "split", preset.align_field]
    if preset.maze_conditions:
        columns += ["trial_type", "trial_version"]
    out = {}
    for column in dict.fromkeys(columns):
        key = f"intervals/trials/{column}"
        _require(f, key, path)
        dset = f[key]
        out[column] = (dset.asstr()[()].astype(str) if h5py.check_string_dtype(dset.dtype)
                       else dset[()])
    return out


def _counts_in_windows(units: UnitTable, order: np.ndarray, group_valid_ms: dict[bool, np.ndarray],
                       window: np.ndarray, bin_ms: int) -> np.ndarray:
    """Counts (trials, T, units in ``order``) in the bins indexed by ``window`` (trials, T)."""
    signals = np.empty((*window.shape, order.size), dtype=np.float32)
    for column, unit in enumerate(order):
        valid_ms = group_valid_ms[bool(units.heldout[unit])]
        signals[:, :, column] = bin_spikes(units.spike_times[unit], valid_ms, bin_ms)[window]
    return signals


def _select_trials(split: np.ndarray, align: np.ndarray, window_ms: tuple[int, int], bin_ms: int,
                   n_bins: int, group_valid: list[np.ndarray],
                   beh_binned: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of usable trials and the number dropped for each reason."""
    in_split = np.isin(split, NLB_SPLITS)
    has_align = in_split & np.isfinite(align)
    starts = np.full(align.shape, -1, dtype=np.int64)
    starts[has_align] = window_start_bins(seconds_to_ns(align[has_align]), window_ms[0], bin_ms)
    in_grid = has_align & (starts >= 0) & (starts + n_bins <= beh_binned.shape[0])
    observed = np.all([*group_valid, ~np.isnan(beh_binned).any(axis=1)], axis=0)
    ok_bins = np.concatenate([[0], np.cumsum(observed)])
    safe = np.where(in_grid, starts, 0)
    complete = in_grid & (ok_bins[safe + n_bins] - ok_bins[safe] == n_bins)
    dropped = {
        "split_not_train_or_val": int((~in_split).sum()),
        "no_alignment_time": int((in_split & ~has_align).sum()),
        "window_outside_recording": int((has_align & ~in_grid).sum()),
        "window_not_observed": int((in_grid & ~complete).sum()),
    }
    return complete, dropped


def _maze_conditions(trials: dict[str, np.ndarray], keep: np.ndarray, hand_vel_1ms: np.ndarray,
                     onset_ns: np.ndarray, reach_ms: int) -> dict[str, np.ndarray]:
    pairs = np.stack([trials["trial_type"], trials["trial_version"]], axis=1).astype(np.int64)
    _, condition = np.unique(pairs, axis=0, return_inverse=True)
    first = -((-onset_ns) // NS_PER_MS)
    samples = first[:, None] + np.arange(reach_ms)
    inside = (samples >= 0) & (samples < hand_vel_1ms.shape[0])
    vel = hand_vel_1ms[np.clip(samples, 0, hand_vel_1ms.shape[0] - 1)].astype(np.float64)
    vel[~inside] = np.nan
    displacement = vel.sum(axis=1)
    return {
        "trial_type": pairs[keep, 0], "trial_version": pairs[keep, 1],
        "condition": condition.reshape(-1)[keep].astype(np.int64),
        "reach_angle": np.arctan2(displacement[:, 1], displacement[:, 0]),
    }


def _window_bins(window_ms: tuple[int, int], bin_ms: int) -> int:
    length = window_ms[1] - window_ms[0]
    if length % bin_ms:
        raise ValueError(f"alignment window {window_ms} ms is not a multiple of bin_ms={bin_ms}")
    return length // bin_ms


def _check_spikes_on_grid(units: UnitTable, n_ms: int, path: Path) -> None:
    for uid, times in zip(units.ids, units.spike_times, strict=True):
        samples = spike_samples(times)
        if samples.size and (samples.min() < 0 or samples.max() >= n_ms):
            raise NLBFileError(f"{path}: unit {uid} has spike times outside the recording "
                               f"[0, {n_ms / 1000} s) set by units/obs_intervals")


def _log_losses(path: Path, dropped: dict[str, int], n_trials: int, silent: np.ndarray,
                n_units: int) -> None:
    """Log dropped trials by reason and the units silent in every kept window."""
    by_design = {k: v for k, v in dropped.items() if k in EXPECTED_DROPS and v}
    unexpected = {k: v for k, v in dropped.items() if k not in EXPECTED_DROPS and v}
    if by_design:
        log.info("%s: dropped %d of %d trials outside the NLB train/val splits (%s)", path,
                 sum(by_design.values()), n_trials, by_design)
    if unexpected:
        log.warning("%s: dropped %d of %d trials: %s (no_alignment_time: NaN alignment time; "
                    "window_outside_recording: window past the recording; window_not_observed: "
                    "window outside obs_intervals or missing behaviour)", path,
                    sum(unexpected.values()), n_trials, unexpected)
    if silent.size:
        log.warning("%s: %d of %d units have no spike in any kept trial window (unit ids %s)",
                    path, silent.size, n_units, silent[:20].tolist())


def _require(f: h5py.File, key: str, path: Path) -> None:
    if key not in f:
        raise NLBFileError(f"{path}: missing '{key}' (required by the NLB NWB layout)")


def _open_nwb(path: Path) -> h5py.File:
    if not path.exists():
        raise FileNotFoundError(f"NWB file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NLBFileError(f"{path}: not a readable NWB/HDF5 file ({err}); it may be truncated "
                           f"or corrupt: fetch or stage it again") from err
    if "nwb_version" not in f.attrs and "nwb_version" not in f:  # NWB 2.x attr, 1.x dataset
        keys = sorted(f.keys())[:10]
        f.close()
        raise NLBFileError(f"{path}: not an NWB file (an HDF5 file without the NWB root attribute "
                           f"'nwb_version'; top-level keys {keys})")
    return f
