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
  linear interpolation, the signal is decimated by ``bin_ms`` as ``scipy.signal.decimate`` does
  (FIR, n=500, zero phase: ``resample_poly`` with zero padding at the ends of the grid) and bins
  whose first sample was missing are set to NaN again. Only the output bins the trial windows use
  are computed, from the 1 ms samples they need (the result equals decimating the whole series).
* Trial windows: trial times are converted to integer nanoseconds exactly as
  ``pandas.to_timedelta`` does; a window holds the bins whose start lies in
  [align + w0, align + w1) (nlb_tools: ``slice_indexer(align + w0, align + w1 - 1 us)``).
  Behaviour uses the same window shifted by the preset lag and is NaN where it leaves the
  recording or falls on missing samples (nlb_tools builds it with ``allow_nans=True``).
* Spikes are binned in one pass per unit straight into the trial windows and stored as unsigned
  integers (uint8, or uint16 if a bin holds more than 255 spikes).

nlb_tools itself (with pandas 2.x) needs behaviour timestamps that cover the whole grid from 0:
``pd.concat`` does not sort the union of a partial behaviour index with the spike grid, and
``resample`` then fails. This reader accepts gaps and treats them as missing samples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from neurodiff.data.tidy import TidyDataset, open_hdf5

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
DECIMATE_FIR_ORDER = 500
NLB_SPLITS = ("train", "val")
AXES = "xyz"
EXPECTED_DROPS = ("split_not_train_or_val",)  # NLB "test"/"none" trials: dropped by design
SPLIT_SEED = 42  # LDNS: torch.utils.data.random_split(..., generator=manual_seed(42))
TIMESTAMP_CHUNK = 1 << 20  # timestamps checked per step (bounds temporary memory)
DECIMATE_CHUNK = 256  # trial windows filtered per step
UNIT_BLOCK = 32  # units binned before one transposed write into the (trials, T, N) tensor
SPLIT_RULE = (
    "LDNS (ldns/data/monkey.py): NLB train plus the first n_val // 2 NLB val trials (file order) "
    "-> train; the other NLB val trials, permuted as torch.randperm(n, generator seed 42) does "
    "(torch.utils.data.random_split), first n // 4 -> val, the rest -> test (real MC_Maze: "
    "1721 + 287 = 2008 train, 287 -> 71 val / 216 test)"
)
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


_MAZE = {
    "align_field": "move_onset_time",
    "window_ms": (-250, 450),
    "allow_overlap": False,
    "behavior_field": "hand_vel",
    "maze_conditions": True,
}
PRESETS: dict[str, NLBPreset] = {
    "mc_maze": NLBPreset(**_MAZE, lag_ms=100),
    "mc_maze_large": NLBPreset(**_MAZE, lag_ms=120),
    "mc_maze_medium": NLBPreset(**_MAZE, lag_ms=120),
    "mc_maze_small": NLBPreset(**_MAZE, lag_ms=120),
    "mc_rtt": NLBPreset(
        align_field="start_time",
        window_ms=(0, 600),
        allow_overlap=True,
        behavior_field="finger_vel",
        lag_ms=140,
        maze_conditions=False,
    ),
}


@dataclass
class UnitTable:
    """The ``/units`` table: ids, held-out flags, observation intervals, lazily read spikes."""

    ids: np.ndarray
    heldout: np.ndarray
    obs_intervals: list[np.ndarray]
    spike_dataset: h5py.Dataset
    spike_ends: np.ndarray

    def spike_times(self, unit: int) -> np.ndarray:
        """Spike times (s) of the unit in row ``unit`` (read from the file on demand)."""
        start = int(self.spike_ends[unit - 1]) if unit else 0
        return np.asarray(self.spike_dataset[start : int(self.spike_ends[unit])], dtype=np.float64)


def read_nlb_nwb(
    path: str | os.PathLike,
    dataset: str,
    bin_ms: int = 5,
    source: str = "nwb",
    behavior_lag_ms: int | None = None,
) -> TidyDataset:
    """Read an NLB train NWB file into trial-aligned counts, exactly as nlb_tools bins it.

    Returns a TidyDataset named ``dataset`` with

    * ``signals``: uint8 spike counts (uint16 if a bin holds more than 255 spikes), shape
      (trials, T, N), held-in units then held-out units, each group in ``/units`` order;
      ``channels["heldout"]`` and ``channels["unit_id"]``;
    * ``behavior``: the preset's velocity (``hand_vel`` for MC_Maze, ``finger_vel`` for MC_RTT) in
      the file's units (mm/s; LDNS divides by 1e3), windowed ``behavior_lag_ms`` later than the
      spikes (default: the nlb_tools preset lag, 100 ms for mc_maze, 120 ms for the maze subsets,
      140 ms for mc_rtt; LDNS's notes mention 80 ms for MC_Maze);
    * ``conditions``: ``nlb_split`` (original NLB split), ``trial_id`` (``/intervals/trials/id``)
      and, for the maze datasets, ``trial_type``, ``trial_version``, ``condition`` (index of the
      (trial_type, trial_version) pair among the sorted pairs of all trials in the file) and
      ``reach_angle``: atan2 of the net hand displacement, the integral of the 1 kHz ``hand_vel``
      over [move_onset, move_onset + window end) (450 ms), NaN if a sample is missing;
    * ``split``: the LDNS split, ``map_nlb_split`` (rule in ``meta["split_rule"]``).

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
        n_ms = recording_length_ms(units)
        n_grid_bins = -(-n_ms // bin_ms)
        beh = read_series(f, path, preset.behavior_field, n_ms)
        heldin, heldout = np.flatnonzero(~units.heldout), np.flatnonzero(units.heldout)
        order = np.concatenate([heldin, heldout])
        group_valid_ms = _group_valid_samples(units, heldin, heldout, n_ms)

        align = trials[preset.align_field]
        in_split = np.isin(trials["split"], NLB_SPLITS)
        has_align = in_split & np.isfinite(align)
        starts = np.full(align.shape, -1, dtype=np.int64)
        align_ns = np.zeros(align.shape, dtype=np.int64)
        align_ns[has_align] = seconds_to_ns(align[has_align])
        starts[has_align] = window_start_bins(align_ns[has_align], preset.window_ms[0], bin_ms)
        in_grid = has_align & (starts >= 0) & (starts + n_bins <= n_grid_bins)
        beh_starts = window_start_bins(align_ns, preset.window_ms[0] + lag_ms, bin_ms)
        reach_first = -((-align_ns) // NS_PER_MS)
        beh.load(
            _needed_ranges(
                starts[in_grid],
                beh_starts[in_grid],
                reach_first[in_grid],
                n_bins,
                bin_ms,
                preset.window_ms[1] if preset.maze_conditions else 0,
            )
        )
        keep, dropped = _select_trials(
            in_split,
            has_align,
            in_grid,
            starts,
            n_bins,
            bin_ms,
            [valid_bins(v, bin_ms) for v in group_valid_ms.values()],
            beh,
        )
        if not keep.any():
            raise NLBFileError(f"{path}: no trial survives the NLB alignment (dropped: {dropped})")
        signals, totals = bin_spikes_in_windows(
            units, order, group_valid_ms, starts[keep], n_bins, bin_ms, n_ms, path
        )
    behavior = beh.binned_windows(beh_starts[keep], n_bins, bin_ms)
    silent = units.ids[order][totals == 0]
    _log_losses(path, dropped, int(align.size), silent, int(order.size))

    nlb_split = trials["split"][keep]
    conditions = {"nlb_split": nlb_split, "trial_id": trials["id"][keep]}
    if preset.maze_conditions:
        conditions.update(
            _maze_conditions(trials, keep, beh, reach_first[keep], preset.window_ms[1])
        )
    meta = {
        "source": source,
        "source_path": str(path),
        "dataset": dataset,
        "bin_ms": bin_ms,
        "align_field": preset.align_field,
        "window_ms": list(preset.window_ms),
        "behavior_field": preset.behavior_field,
        "behavior_lag_ms": lag_ms,
        "behavior_unit": "mm/s",
        "n_trials_in_file": int(align.size),
        "n_dropped_trials": int(sum(dropped.values())),
        "dropped_trials": dropped,
        "n_heldin": int(heldin.size),
        "n_heldout": int(heldout.size),
        "n_silent_units": int(silent.size),
        "silent_unit_ids": silent.tolist(),
        "n_trials_with_nan_behavior": int(np.isnan(behavior).any(axis=(1, 2)).sum()),
        "split_rule": SPLIT_RULE,
        "split_seed": SPLIT_SEED,
    }
    return TidyDataset(
        name=dataset,
        signals=signals,
        split=map_nlb_split(nlb_split),
        bin_size_s=bin_ms / 1000,
        signal_kind="counts",
        behavior=behavior,
        behavior_names=[f"{preset.behavior_field}_{a}" for a in AXES[: behavior.shape[2]]],
        conditions=conditions,
        channels={"heldout": units.heldout[order].astype(bool), "unit_id": units.ids[order]},
        meta=meta,
    )


def map_nlb_split(nlb_split: np.ndarray, seed: int = SPLIT_SEED) -> np.ndarray:
    """LDNS's MC_Maze split: NLB train + first half of NLB val -> train; the second half of val
    in ``torch.randperm`` order (seed ``seed``): first quarter (rounded down) -> val, rest -> test.
    """
    nlb_split = np.asarray(nlb_split).astype(str)
    bad = sorted(set(nlb_split.tolist()) - set(NLB_SPLITS))
    if bad:
        raise ValueError(f"NLB splits must be {NLB_SPLITS} after trial selection, got {bad}")
    split = np.full(nlb_split.shape, "train", dtype="<U5")
    val = np.flatnonzero(nlb_split == "val")
    held = val[val.size // 2 :]
    permuted = held[torch_randperm(held.size, seed)]
    n_val = held.size // 4
    split[permuted[:n_val]] = "val"
    split[permuted[n_val:]] = "test"
    return split


def torch_randperm(n: int, seed: int) -> np.ndarray:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` on the CPU, in numpy.

    torch shuffles with 32-bit MT19937 draws (seeded like ``init_genrand``): for i in 0..n-2,
    swap r[i] with r[i + draw_i % (n - i)]. Checked against torch in the tests.
    """
    bits = np.random.MT19937()
    bits._legacy_seeding(seed)
    draws = bits.random_raw(max(n - 1, 0)).astype(np.uint64)
    perm = np.arange(n, dtype=np.int64)
    for i, draw in enumerate(draws.tolist()):
        j = i + draw % (n - i)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


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
    valid = np.zeros(n_ms, dtype=bool)
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        valid[lo:hi] = True
    return valid


def valid_bins(valid_ms: np.ndarray, bin_ms: int) -> np.ndarray:
    """A bin is valid when its first 1 ms sample is (nlb_tools ``resample``)."""
    return valid_ms[::bin_ms]


def spike_samples(spike_times: np.ndarray) -> np.ndarray:
    """1 ms grid sample of each spike: int(round(1000 t, 6)), truncating like nlb_tools."""
    return np.round(np.asarray(spike_times, dtype=np.float64) * 1000.0, 6).astype(np.int64)


def bin_spikes_in_windows(
    units: UnitTable,
    order: np.ndarray,
    group_valid_ms: dict[bool, np.ndarray],
    starts: np.ndarray,
    n_bins: int,
    bin_ms: int,
    n_ms: int,
    path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts (trials, n_bins, units in ``order``) of the windows starting at bins ``starts``.

    One pass per unit: each spike's bin is looked up in a bin -> window-slot table (one table per
    layer of mutually non-overlapping windows) and counted with one ``bincount``; spikes on 1 ms
    samples outside the group's observation intervals are discarded. Returns the counts (uint8,
    or uint16 once a bin holds more than 255 spikes) and each unit's total count in the windows.
    """
    n_slots = starts.size * n_bins
    layers = _slot_layers(starts, n_bins, -(-n_ms // bin_ms))
    signals = np.zeros((starts.size, n_bins, order.size), dtype=np.uint8)
    block = np.zeros((min(UNIT_BLOCK, order.size), n_slots), dtype=np.uint8)
    totals = np.zeros(order.size, dtype=np.int64)
    for column, unit in enumerate(order):
        samples = spike_samples(units.spike_times(unit))
        if samples.size and (samples.min() < 0 or samples.max() >= n_ms):
            raise NLBFileError(
                f"{path}: unit {units.ids[unit]} has spike times outside the "
                f"recording [0, {n_ms / 1000} s) set by units/obs_intervals"
            )
        valid_ms = group_valid_ms[bool(units.heldout[unit])]
        spike_bins = samples // bin_ms
        counts = None
        for slot_of_bin in layers:
            slots = slot_of_bin[spike_bins]
            hits = np.flatnonzero(slots >= 0)
            hits = hits[valid_ms[samples[hits]]]  # drop spikes on unobserved 1 ms samples
            layer_counts = np.bincount(slots[hits], minlength=n_slots)
            counts = layer_counts if counts is None else counts + layer_counts
        peak = int(counts.max()) if counts.size else 0
        if peak > np.iinfo(signals.dtype).max:
            if peak > np.iinfo(np.uint16).max:
                raise NLBFileError(
                    f"{path}: unit {units.ids[unit]} has {peak} spikes in one "
                    f"{bin_ms} ms bin; counts are stored as uint16"
                )
            signals, block = signals.astype(np.uint16), block.astype(np.uint16)
        row = column % block.shape[0]
        block[row] = counts
        totals[column] = int(counts.sum())
        if row == block.shape[0] - 1 or column == order.size - 1:  # contiguous rows -> columns
            first = column - row
            signals.reshape(n_slots, order.size)[:, first : column + 1] = block[: row + 1].T
    return signals, totals


def fir_lowpass(numtaps: int, cutoff: float) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, cutoff, window="hamming")`` (cutoff relative to Nyquist)."""
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = cutoff * np.sinc(cutoff * m)
    window = 0.54 + 0.46 * np.cos(np.linspace(-np.pi, np.pi, numtaps))
    h = h * window
    return h / np.sum(h)


def decimation_matrix(n_out: int, q: int, order: int = DECIMATE_FIR_ORDER) -> np.ndarray:
    """(n_out, q (n_out - 1) + order + 1) matrix: ``scipy.signal.decimate(x, q, n=order,
    ftype="fir")`` bins k..k+n_out-1 from the samples q k - order/2 ... of ``x``."""
    h = fir_lowpass(order + 1, 1.0 / q)[::-1]
    matrix = np.zeros((n_out, q * (n_out - 1) + order + 1))
    for t in range(n_out):
        matrix[t, q * t : q * t + order + 1] = h
    return matrix


def place_on_grid(
    times: np.ndarray, values: np.ndarray, n_ms: int, path: Path, name: str
) -> np.ndarray:
    """Put a sampled signal on the 1 ms grid; samples the signal lacks are NaN."""
    ns = seconds_to_ns(times)
    sample = (ns + NS_PER_MS // 2) // NS_PER_MS
    off_grid = np.abs(ns - sample * NS_PER_MS) >= 1000
    outside = (sample < 0) | (sample >= n_ms)
    if off_grid.any() or outside.any():
        bad = times[np.flatnonzero(off_grid | outside)[0]]
        raise NLBFileError(
            f"{path}: timestamps of '{name}' must lie on the 1 ms grid [0, {n_ms}) ms set by "
            f"units/obs_intervals; first offending timestamp {bad!r} s (nlb_tools drops the series)"
        )
    grid = np.full((n_ms, values.shape[1]), np.nan, dtype=np.float64)
    grid[sample] = values
    return grid


def fill_gaps(grid_1ms: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN samples, constant beyond the ends (pandas ``interpolate``
    with ``limit_direction="both"``, as nlb_tools does before decimating)."""
    filled = grid_1ms.copy()
    positions = np.arange(filled.shape[0])
    for k in range(filled.shape[1]):
        gaps = np.isnan(filled[:, k])
        if gaps.any() and not gaps.all():
            filled[gaps, k] = np.interp(positions[gaps], positions[~gaps], filled[~gaps, k])
    return filled


class SampledSeries:
    """A TimeSeries on the 1 ms grid [0, n_ms), read only at the samples the windows need.

    When the timestamps are consecutive 1 ms samples (the NLB files), only the rows of the
    ranges given to ``load`` are read. Otherwise (gaps, NaN values, unsorted or off-grid
    timestamps) the whole series is put on the grid and its gaps are interpolated.
    """

    def __init__(
        self,
        dataset: h5py.Dataset,
        times: np.ndarray | None,
        first_ms: int | None,
        n_ms: int,
        path: Path,
        name: str,
    ) -> None:
        self.dataset, self.n_ms, self.path, self.name = dataset, n_ms, path, name
        self.n_rows = int(dataset.shape[0])
        self.width = int(np.prod(dataset.shape[1:], dtype=np.int64))
        self.first_ms = first_ms
        self._times = times
        self._grid = self._filled = None
        self._rows = self._offsets = self._buffer = None
        if first_ms is None:
            self._full_grid()

    def _full_grid(self) -> None:
        values = self.dataset[()].reshape(self.n_rows, -1)
        if self.first_ms is None:
            self._grid = place_on_grid(self._times, values, self.n_ms, self.path, self.name)
        else:  # consecutive samples holding NaN values
            self._grid = np.full((self.n_ms, self.width), np.nan)
            self._grid[self.first_ms : self.first_ms + self.n_rows] = values
        self._filled = fill_gaps(self._grid)
        self.first_ms = None

    def load(self, ranges: np.ndarray) -> None:
        """Read the rows of the 1 ms sample ranges [lo, hi) (rows (R, 2)) for later lookups."""
        if self._grid is not None:
            return
        rows = np.clip(
            np.asarray(ranges, dtype=np.int64).reshape(-1, 2) - self.first_ms, 0, self.n_rows
        )
        rows = np.vstack([rows, [[0, 1], [self.n_rows - 1, self.n_rows]]])  # ends: extension
        rows = rows[rows[:, 1] > rows[:, 0]]
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        reach = np.maximum.accumulate(rows[:, 1])
        new = np.concatenate([[True], rows[1:, 0] > reach[:-1]])
        starts = rows[new, 0]
        ends = np.maximum.reduceat(rows[:, 1], np.flatnonzero(new))
        offsets = np.concatenate([[0], np.cumsum(ends - starts)])
        buffer = np.empty((int(offsets[-1]), self.width), dtype=np.float64)
        read_rows(self.dataset, starts, ends, buffer)
        if np.isnan(buffer).any():  # NaN values: interpolate over them as nlb_tools does
            self._full_grid()
            return
        self._rows, self._offsets, self._buffer = starts, offsets, buffer

    def _lookup(self, rows: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self._rows, rows, side="right") - 1
        return self._buffer[self._offsets[at] + rows - self._rows[at]]

    def raw(self, samples: np.ndarray) -> np.ndarray:
        """Values at 1 ms samples (any shape), NaN where the series has none; shape (..., K)."""
        samples = np.asarray(samples, dtype=np.int64)
        if self._grid is not None:
            inside = (samples >= 0) & (samples < self.n_ms)
            out = self._grid[np.clip(samples, 0, self.n_ms - 1)]
        else:
            rows = samples - self.first_ms
            inside = (rows >= 0) & (rows < self.n_rows)
            out = self._lookup(np.clip(rows, 0, self.n_rows - 1))
        out[~inside] = np.nan
        return out

    def filled(self, samples: np.ndarray) -> np.ndarray:
        """Gap-filled values at 1 ms samples, zero outside the grid (decimate's padding)."""
        samples = np.asarray(samples, dtype=np.int64)
        inside = (samples >= 0) & (samples < self.n_ms)
        clipped = np.clip(samples, 0, self.n_ms - 1)
        if self._grid is not None:
            out = self._filled[clipped]
        else:
            out = self._lookup(np.clip(clipped - self.first_ms, 0, self.n_rows - 1))
        out[~inside] = 0.0
        return out

    def binned_windows(self, first_bins: np.ndarray, n_bins: int, bin_ms: int) -> np.ndarray:
        """(windows, n_bins, K) decimated series in the bins first_bins[i] + [0, n_bins); NaN at
        bins whose first sample is missing or that lie outside the grid."""
        first_bins = np.asarray(first_bins, dtype=np.int64)
        bins = first_bins[:, None] + np.arange(n_bins)
        raw = self.raw(bins * bin_ms)
        if bin_ms == 1:
            return raw
        matrix = decimation_matrix(n_bins, bin_ms)
        half = DECIMATE_FIR_ORDER // 2
        offsets = np.arange(matrix.shape[1]) - half
        out = np.empty((first_bins.size, n_bins, self.width), dtype=np.float64)
        for lo in range(0, first_bins.size, DECIMATE_CHUNK):
            chunk = first_bins[lo : lo + DECIMATE_CHUNK]
            x = self.filled(chunk[:, None] * bin_ms + offsets)  # (chunk, L, K)
            out[lo : lo + chunk.size] = np.einsum("tl,wlk->wtk", matrix, x, optimize=True)
        n_grid_bins = -(-self.n_ms // bin_ms)
        out[np.isnan(raw) | ((bins < 0) | (bins >= n_grid_bins))[:, :, None]] = np.nan
        return out


def read_rows(dataset: h5py.Dataset, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> None:
    """Read rows [starts[i], ends[i]) of a dataset one after another into ``out`` (C-ordered,
    converted by HDF5 to ``out``'s dtype), with one low-level read per range."""
    if dataset.chunks is None and dataset.compression is None and dataset.ndim <= 2:
        file_space = dataset.id.get_space()
        tail = tuple(dataset.shape[1:])
        at = 0
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            file_space.select_hyperslab((lo,) + (0,) * len(tail), (hi - lo, *tail))
            target = out[at : at + hi - lo].reshape((hi - lo, *tail))
            dataset.id.read(h5py.h5s.create_simple(target.shape), file_space, target)
            at += hi - lo
        return
    at = 0
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        out[at : at + hi - lo] = dataset[lo:hi].reshape(hi - lo, -1)
        at += hi - lo


def read_series(f: h5py.File, path: Path, name: str, n_ms: int) -> SampledSeries:
    """TimeSeries ``name`` (any processing module, or acquisition) on the 1 ms grid."""
    candidates = [f"processing/{m}/{name}" for m in f.get("processing", {})] + [
        f"acquisition/{name}"
    ]
    found = [c for c in candidates if c in f]
    if not found:
        raise NLBFileError(f"{path}: missing TimeSeries '{name}' (looked in {candidates})")
    series = f[found[0]]
    if "data" not in series:
        raise NLBFileError(f"{path}: missing '{found[0]}/data'")
    data = series["data"]
    n_rows = int(data.shape[0])
    if "timestamps" in series:
        stamps = series["timestamps"]
        if stamps.shape[0] != n_rows:
            raise NLBFileError(
                f"{path}: '{found[0]}' has {n_rows} samples but {stamps.shape[0]} timestamps"
            )

        def read(lo: int, hi: int) -> np.ndarray:
            return np.asarray(stamps[lo:hi], dtype=np.float64)
    elif "starting_time" in series:
        start = series["starting_time"]
        t0, rate = start[()], float(start.attrs["rate"])

        def read(lo: int, hi: int) -> np.ndarray:
            return t0 + np.arange(lo, hi) / rate
    else:
        raise NLBFileError(f"{path}: '{found[0]}' has neither timestamps nor starting_time")
    first = _consecutive_ms(read, n_rows, n_ms)
    times = None if first is not None else read(0, n_rows)
    return SampledSeries(data, times, first, n_ms, path, f"{name}")


def _consecutive_ms(read: Callable[[int, int], np.ndarray], n_rows: int, n_ms: int) -> int | None:
    """First 1 ms sample if the timestamps are consecutive samples inside [0, n_ms), else None."""
    if n_rows == 0:
        return None
    first = int(np.rint(read(0, 1)[0] * 1000.0))
    steps = np.arange(min(TIMESTAMP_CHUNK, n_rows), dtype=np.float64)
    for lo in range(0, n_rows, TIMESTAMP_CHUNK):
        ms = read(lo, min(lo + TIMESTAMP_CHUNK, n_rows)) * 1000.0
        ms -= steps[: ms.size]
        ms -= first + lo  # within 1 us of the expected sample <=> on the grid and consecutive
        if not np.all(np.abs(ms) < 1e-3):
            return None
    if first < 0 or first + n_rows > n_ms:
        return None
    return first


def read_units(f: h5py.File, path: Path) -> UnitTable:
    """Read ``/units``: ids, ``heldout``, ragged ``obs_intervals``; spike times stay on disk."""
    for key in ("units/id", "units/heldout", "units/spike_times", "units/spike_times_index"):
        _require(f, key, path)
    heldout = f["units/heldout"][()].astype(bool)
    spike_ends = f["units/spike_times_index"][()].astype(np.int64)
    intervals = [
        np.asarray(iv, dtype=np.float64).reshape(-1, 2)
        for iv in read_ragged(f, "units/obs_intervals", path)
    ]
    if not (spike_ends.size == len(intervals) == heldout.size):
        raise NLBFileError(
            f"{path}: units/spike_times, units/obs_intervals and units/heldout "
            f"have different lengths ({spike_ends.size}, {len(intervals)}, "
            f"{heldout.size})"
        )
    if not any(len(iv) for iv in intervals):
        raise NLBFileError(f"{path}: 'units/obs_intervals' holds no interval")
    return UnitTable(
        ids=f["units/id"][()],
        heldout=heldout,
        obs_intervals=intervals,
        spike_dataset=f["units/spike_times"],
        spike_ends=spike_ends,
    )


def read_ragged(f: h5py.File, key: str, path: Path) -> list[np.ndarray]:
    """Split a ragged NWB column (``key`` plus ``key_index``) into one array per row."""
    _require(f, key, path)
    _require(f, f"{key}_index", path)
    ends = f[f"{key}_index"][()].astype(np.int64)
    return np.split(f[key][()], ends[:-1])


def _read_trials(f: h5py.File, path: Path, preset: NLBPreset) -> dict[str, np.ndarray]:
    columns = ["id", "start_time", "stop_time", "split", preset.align_field]
    if preset.maze_conditions:
        columns += ["trial_type", "trial_version"]
    out = {}
    for column in dict.fromkeys(columns):
        key = f"intervals/trials/{column}"
        _require(f, key, path)
        dset = f[key]
        out[column] = (
            dset.asstr()[()].astype(str) if h5py.check_string_dtype(dset.dtype) else dset[()]
        )
    return out


def _group_valid_samples(
    units: UnitTable, heldin: np.ndarray, heldout: np.ndarray, n_ms: int
) -> dict[bool, np.ndarray]:
    """Valid 1 ms samples of each group (held-out flag -> grid), from its first unit."""
    out: dict[bool, np.ndarray] = {}
    for flag, members in ((False, heldin), (True, heldout)):
        if members.size:
            intervals = units.obs_intervals[members[0]]
            same = [
                v
                for k, v in out.items()
                if np.array_equal(units.obs_intervals[(heldin, heldout)[k][0]], intervals)
            ]
            out[flag] = same[0] if same else valid_samples(intervals, n_ms)
    return out


def _slot_layers(starts: np.ndarray, n_bins: int, n_grid_bins: int) -> list[np.ndarray]:
    """Tables bin -> window slot (window * n_bins + offset, -1: none), one per layer of windows
    that do not overlap each other (one layer unless windows overlap, as MC_RTT's may)."""
    layer_of = np.empty(starts.size, dtype=np.int64)
    layer_ends: list[int] = []
    for window in np.argsort(starts, kind="stable").tolist():
        start = int(starts[window])
        free = next((i for i, end in enumerate(layer_ends) if start >= end), len(layer_ends))
        if free == len(layer_ends):
            layer_ends.append(0)
        layer_ends[free] = start + n_bins
        layer_of[window] = free
    dtype = np.int32 if starts.size * n_bins < np.iinfo(np.int32).max else np.int64
    layers = []
    for layer in range(len(layer_ends)):
        members = np.flatnonzero(layer_of == layer)
        table = np.full(n_grid_bins, -1, dtype=dtype)
        table[starts[members, None] + np.arange(n_bins)] = members[:, None] * n_bins + np.arange(
            n_bins
        )
        layers.append(table)
    return layers


def _needed_ranges(
    starts: np.ndarray,
    beh_starts: np.ndarray,
    reach_first: np.ndarray,
    n_bins: int,
    bin_ms: int,
    reach_ms: int,
) -> np.ndarray:
    """1 ms sample ranges [lo, hi) the behaviour of candidate windows needs: the spike windows
    (missing samples drop the trial), the lagged windows plus the FIR's half length, the reach."""
    half = DECIMATE_FIR_ORDER // 2 if bin_ms > 1 else 0
    ranges = [
        np.stack([starts * bin_ms, (starts + n_bins) * bin_ms], axis=1),
        np.stack(
            [beh_starts * bin_ms - half, (beh_starts + n_bins - 1) * bin_ms + half + 1], axis=1
        ),
    ]
    if reach_ms:
        ranges.append(np.stack([reach_first, reach_first + reach_ms], axis=1))
    return np.concatenate(ranges)


def _select_trials(
    in_split: np.ndarray,
    has_align: np.ndarray,
    in_grid: np.ndarray,
    starts: np.ndarray,
    n_bins: int,
    bin_ms: int,
    group_valid: list[np.ndarray],
    beh: SampledSeries,
) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of usable trials and the number dropped for each reason."""
    observed = np.all(group_valid, axis=0)
    ok_bins = np.concatenate([[0], np.cumsum(observed)])
    safe = np.where(in_grid, starts, 0)
    spikes_ok = in_grid & (ok_bins[safe + n_bins] - ok_bins[safe] == n_bins)
    candidates = np.flatnonzero(spikes_ok)
    first_samples = (starts[candidates, None] + np.arange(n_bins)) * bin_ms
    complete = spikes_ok.copy()
    complete[candidates] = ~np.isnan(beh.raw(first_samples)).any(axis=(1, 2))
    dropped = {
        "split_not_train_or_val": int((~in_split).sum()),
        "no_alignment_time": int((in_split & ~has_align).sum()),
        "window_outside_recording": int((has_align & ~in_grid).sum()),
        "window_not_observed": int((in_grid & ~complete).sum()),
    }
    return complete, dropped


def _maze_conditions(
    trials: dict[str, np.ndarray],
    keep: np.ndarray,
    hand_vel: SampledSeries,
    first_ms: np.ndarray,
    reach_ms: int,
) -> dict[str, np.ndarray]:
    pairs = np.stack([trials["trial_type"], trials["trial_version"]], axis=1).astype(np.int64)
    _, condition = np.unique(pairs, axis=0, return_inverse=True)
    displacement = hand_vel.raw(first_ms[:, None] + np.arange(reach_ms)).sum(axis=1)
    return {
        "trial_type": pairs[keep, 0],
        "trial_version": pairs[keep, 1],
        "condition": condition.reshape(-1)[keep].astype(np.int64),
        "reach_angle": np.arctan2(displacement[:, 1], displacement[:, 0]),
    }


def _window_bins(window_ms: tuple[int, int], bin_ms: int) -> int:
    length = window_ms[1] - window_ms[0]
    if length % bin_ms:
        raise ValueError(f"alignment window {window_ms} ms is not a multiple of bin_ms={bin_ms}")
    return length // bin_ms


def _log_losses(
    path: Path, dropped: dict[str, int], n_trials: int, silent: np.ndarray, n_units: int
) -> None:
    """Log dropped trials by reason and the units silent in every kept window."""
    by_design = {k: v for k, v in dropped.items() if k in EXPECTED_DROPS and v}
    unexpected = {k: v for k, v in dropped.items() if k not in EXPECTED_DROPS and v}
    if by_design:
        log.info(
            "%s: dropped %d of %d trials outside the NLB train/val splits (%s)",
            path,
            sum(by_design.values()),
            n_trials,
            by_design,
        )
    if unexpected:
        log.warning(
            "%s: dropped %d of %d trials: %s (no_alignment_time: NaN alignment time; "
            "window_outside_recording: window past the recording; window_not_observed: "
            "window outside obs_intervals or missing behaviour)",
            path,
            sum(unexpected.values()),
            n_trials,
            unexpected,
        )
    if silent.size:
        log.warning(
            "%s: %d of %d units have no spike in any kept trial window (unit ids %s)",
            path,
            silent.size,
            n_units,
            silent[:20].tolist(),
        )


def _require(f: h5py.File, key: str, path: Path) -> None:
    if key not in f:
        raise NLBFileError(f"{path}: missing '{key}' (required by the NLB NWB layout)")


def _open_nwb(path: Path) -> h5py.File:
    advice = "; it may be truncated or corrupt: fetch or stage it again"
    f = open_hdf5(path, "NWB file", NLBFileError, kind="NWB/HDF5", advice=advice)
    if "nwb_version" not in f.attrs and "nwb_version" not in f:  # NWB 2.x attr, 1.x dataset
        keys = sorted(f.keys())[:10]
        f.close()
        raise NLBFileError(
            f"{path}: not an NWB file (an HDF5 file without the NWB root attribute "
            f"'nwb_version'; top-level keys {keys})"
        )
    return f
