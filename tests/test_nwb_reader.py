"""The NLB NWB reader: exact bins on a hand-made file, agreement with nlb_tools, simulator files."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pandas as pd
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from scipy import signal

from neurodiff.data.nwb import (
    NLBFileError,
    decimation_matrix,
    fir_lowpass,
    map_nlb_split,
    read_nlb_nwb,
    seconds_to_ns,
    torch_randperm,
)
from neurodiff.data.simulate.nlb_like import truth_path, write_mc_maze_like, write_mc_rtt_like
from neurodiff.provenance import ProvenanceError
from neurodiff.runlog import snakemake_job


def _nlb_tools_importable() -> bool:
    try:
        import nlb_tools.make_tensors  # noqa: F401
    except ImportError:
        return False
    return True


NEEDS_NLB_TOOLS = pytest.mark.skipif(
    not _nlb_tools_importable(),
    reason="nlb_tools not importable: install with "
    "`pip install --no-deps nlb-tools==0.0.4` beside pandas<3 to compare with it",
)

# Hand-made MC_Maze-like file: 3 s of recording with an observation gap at 1.90-1.95 s.
OBS = [[0.0, 1.9], [1.95, 3.0]]
# (start, stop, move_onset, split, trial_type, trial_version)
TRIALS = [
    (0.20, 1.00, 0.5123, "train", 3, 0),  # window 262.3-962.3 ms -> bins 53..192
    (1.00, 1.80, 1.2500, "val", 1, 2),  # window 1000-1700 ms, on bin edges -> bins 200..339
    (1.80, 2.10, 2.0000, "val", 1, 2),  # window crosses the observation gap -> dropped
    (2.10, 2.30, 2.2000, "none", 2, 1),  # split "none" -> dropped
    (2.30, 2.80, 2.5000, "val", 3, 0),  # bins 450..589; second kept val trial -> "test"
    (2.80, 3.00, 2.9000, "train", 2, 0),  # window ends after the recording -> dropped
]
# unit id -> (heldout, spike times); reader order is held-in units 0, 2 then held-out unit 1
SPIKES = {
    0: (False, [0.2650, 0.2699999, 0.26999999999, 0.9623, 0.9650, 1.0, 1.92, 2.5]),
    1: (True, [1.6999, 2.25]),
    2: (False, [0.5123]),
}
# (kept trial, bin, reader column) -> count
EXPECTED_COUNTS = {
    (0, 0, 0): 2,
    (0, 1, 0): 1,
    (0, 139, 0): 1,
    (1, 0, 0): 1,
    (2, 50, 0): 1,
    (1, 139, 2): 1,
    (2, 0, 2): 1,
    (0, 49, 1): 1,
}
# hand velocity (mm/s) held for 300 ms from each kept trial's movement onset
REACHES = [(512, (0.0, 100.0)), (1250, (-100.0, 0.0)), (2500, (70.0, -70.0))]


def hand_velocity_1ms() -> np.ndarray:
    vel = np.zeros((3000, 2))
    for onset_ms, v in REACHES:
        vel[onset_ms : onset_ms + 300] = v
    return vel


def write_handmade(
    path,
    heldout: bool = True,
    obs_intervals: bool = True,
    behavior: bool = True,
    silent_unit: bool = False,
) -> None:
    start = dt.datetime(2009, 9, 25, tzinfo=dt.UTC)
    nwb = NWBFile(
        session_description="hand-made NLB-like file",
        identifier="handmade",
        session_start_time=start,
    )
    for name in ("move_onset_time", "split", "trial_type", "trial_version"):
        nwb.add_trial_column(name, name)
    for start_s, stop_s, onset, split, ttype, version in TRIALS:
        nwb.add_trial(
            start_time=start_s,
            stop_time=stop_s,
            move_onset_time=onset,
            split=split,
            trial_type=ttype,
            trial_version=version,
        )
    if heldout:
        nwb.add_unit_column("heldout", "held-out unit")
    for held, times in SPIKES.values():
        extra = {"heldout": held} if heldout else {}
        if obs_intervals:
            extra["obs_intervals"] = np.array(OBS)
        nwb.add_unit(spike_times=np.array(times), **extra)
    if silent_unit:  # a held-in unit whose only spike falls outside every kept window
        extra = {"heldout": False} if heldout else {}
        if obs_intervals:
            extra["obs_intervals"] = np.array(OBS)
        nwb.add_unit(spike_times=np.array([0.05]), **extra)
    if behavior:
        module = nwb.create_processing_module("behavior", "behaviour")
        module.add(
            TimeSeries(
                name="hand_vel",
                data=hand_velocity_1ms(),
                unit="mm/s",
                timestamps=np.arange(3000) / 1000.0,
            )
        )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    path = tmp_path_factory.mktemp("handmade") / "handmade.nwb"
    write_handmade(path)
    return path


def test_handmade_counts_alignment_and_drops(handmade):
    ds = read_nlb_nwb(handmade, "mc_maze", source="test")
    expected = np.zeros((3, 140, 3), dtype=np.float32)
    for index, count in EXPECTED_COUNTS.items():
        expected[index] = count
    np.testing.assert_array_equal(ds.signals, expected)
    np.testing.assert_array_equal(ds.channels["heldout"], [False, False, True])
    np.testing.assert_array_equal(ds.channels["unit_id"], [0, 2, 1])
    np.testing.assert_array_equal(ds.conditions["trial_id"], [0, 1, 4])
    np.testing.assert_array_equal(ds.conditions["nlb_split"], ["train", "val", "val"])
    # LDNS split: the first of the two NLB val trials joins train; the second half (1 trial)
    # gives 1 // 4 = 0 val trials and 1 test trial
    np.testing.assert_array_equal(ds.split, ["train", "train", "test"])
    assert ds.signals.dtype == np.uint8
    np.testing.assert_array_equal(ds.conditions["trial_type"], [3, 1, 3])
    np.testing.assert_array_equal(ds.conditions["trial_version"], [0, 2, 0])
    # sorted pairs of all trials: (1,2) (2,0) (2,1) (3,0)
    np.testing.assert_array_equal(ds.conditions["condition"], [3, 0, 3])
    np.testing.assert_allclose(
        ds.conditions["reach_angle"], [np.pi / 2, np.pi, -np.pi / 4], atol=1e-12
    )
    assert ds.bin_size_s == 0.005 and ds.name == "mc_maze"
    assert ds.meta["dropped_trials"] == {
        "split_not_train_or_val": 1,
        "no_alignment_time": 0,
        "window_outside_recording": 1,
        "window_not_observed": 1,
    }
    assert ds.meta["n_dropped_trials"] == 3
    assert ds.meta["source"] == "test" and ds.meta["source_path"] == str(handmade)


def test_handmade_behavior_is_decimated_and_lagged(handmade):
    ds = read_nlb_nwb(handmade, "mc_maze")
    decimated = signal.decimate(hand_velocity_1ms(), 5, axis=0, n=500, ftype="fir")
    lag_bins = 100 // 5
    for trial, first_bin in enumerate([53, 200, 450]):
        bins = np.arange(first_bin + lag_bins, first_bin + lag_bins + 140)
        inside = bins < decimated.shape[0]
        np.testing.assert_allclose(
            ds.behavior[trial][inside], decimated[bins[inside]], rtol=1e-6, atol=1e-4
        )
        assert np.isnan(ds.behavior[trial][~inside]).all()
    assert ds.meta["n_trials_with_nan_behavior"] == 1
    assert ds.behavior_names == ["hand_vel_x", "hand_vel_y"]
    unlagged = read_nlb_nwb(handmade, "mc_maze", behavior_lag_ms=0)
    np.testing.assert_allclose(unlagged.behavior[1], decimated[200:340], rtol=1e-6, atol=1e-4)


def test_handmade_one_ms_bins_are_raw_samples(handmade):
    ds = read_nlb_nwb(handmade, "mc_maze", bin_ms=1, behavior_lag_ms=0)
    assert ds.signals.shape == (3, 700, 3)
    assert ds.signals[0, 265 - 263, 0] == 1 and ds.signals[0, 269 - 263, 0] == 1
    np.testing.assert_array_equal(ds.behavior[1], hand_velocity_1ms()[1000:1700])


@pytest.mark.parametrize(
    ("missing", "key"),
    [
        ("heldout", "units/heldout"),
        ("obs_intervals", "units/obs_intervals"),
        ("behavior", "hand_vel"),
    ],
)
def test_missing_key_names_file_and_key(tmp_path, missing, key):
    path = tmp_path / f"no_{missing}.nwb"
    write_handmade(path, **{missing: False})
    with pytest.raises(NLBFileError, match=key) as err:
        read_nlb_nwb(path, "mc_maze")
    assert str(path) in str(err.value)


def test_bad_inputs_raise(tmp_path, handmade):
    with pytest.raises(FileNotFoundError, match="nope.nwb"):
        read_nlb_nwb(tmp_path / "nope.nwb", "mc_maze")
    (tmp_path / "junk.nwb").write_text("not hdf5")
    with pytest.raises(NLBFileError, match="junk.nwb"):
        read_nlb_nwb(tmp_path / "junk.nwb", "mc_maze")
    with pytest.raises(ValueError, match="unknown NLB dataset"):
        read_nlb_nwb(handmade, "mc_mazy")
    with pytest.raises(ValueError, match="not a multiple"):
        read_nlb_nwb(handmade, "mc_maze", bin_ms=3)


def test_plain_hdf5_file_is_not_an_nwb_file(tmp_path):
    path = tmp_path / "plain.nwb"
    with h5py.File(path, "w") as f:
        f.create_dataset("units/spike_times", data=np.zeros(3))
    with pytest.raises(NLBFileError, match=r"plain\.nwb: not an NWB file.*nwb_version"):
        read_nlb_nwb(path, "mc_maze")


def test_truncated_nwb_fails_in_the_provenance_step_naming_the_file(tmp_path, handmade):
    truncated = tmp_path / "raw" / "sub-Jenkins_train.nwb"
    truncated.parent.mkdir()
    data = handmade.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    job = SimpleNamespace(
        rule="prepare_nlb",
        log=[str(tmp_path / "logs" / "prepare.log")],
        input=[str(truncated)],
        output=[str(tmp_path / "mc_maze.h5")],
        params={},
        wildcards={},
        config={"preset": "paper"},
    )
    with pytest.raises(
        ProvenanceError,
        match=r"sub-Jenkins_train\.nwb: HDF5 file cannot be "
        r"opened.*truncated",
    ):
        with snakemake_job(job):
            pass
    with pytest.raises(NLBFileError, match=r"sub-Jenkins_train\.nwb: not a readable NWB"):
        read_nlb_nwb(truncated, "mc_maze")


def test_dropped_trials_and_silent_units_are_logged(tmp_path, handmade, caplog):
    with caplog.at_level(logging.INFO, logger="neurodiff.data.nwb"):
        read_nlb_nwb(handmade, "mc_maze")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(handmade) in warnings[0]
    assert "dropped 2 of 6 trials" in warnings[0]
    assert "'window_outside_recording': 1" in warnings[0]
    assert "'window_not_observed': 1" in warnings[0]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("'split_not_train_or_val': 1" in m for m in infos)

    nan_onset = tmp_path / "nan_onset.nwb"
    nan_onset.write_bytes(handmade.read_bytes())
    with h5py.File(nan_onset, "r+") as f:
        f["intervals/trials/move_onset_time"][0] = np.nan
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="neurodiff.data.nwb"):
        read_nlb_nwb(nan_onset, "mc_maze")
    assert any(
        "dropped 3 of 6 trials" in r.getMessage() and "'no_alignment_time': 1" in r.getMessage()
        for r in caplog.records
    )

    path = tmp_path / "silent.nwb"
    write_handmade(path, silent_unit=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="neurodiff.data.nwb"):
        ds = read_nlb_nwb(path, "mc_maze")
    assert ds.meta["n_silent_units"] == 1 and ds.meta["silent_unit_ids"] == [3]
    assert any(
        "1 of 4 units have no spike in any kept trial window (unit ids [3])" in r.getMessage()
        for r in caplog.records
    )


def test_seconds_to_ns_matches_pandas():
    rng = np.random.default_rng(0)
    t = np.concatenate([rng.integers(0, 10_000_000, 5000) / 1000, rng.uniform(0, 1e4, 5000)])
    expected = pd.to_timedelta(pd.Series(t), unit="s").to_numpy().astype(np.int64)
    np.testing.assert_array_equal(seconds_to_ns(t), expected)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 287, 1000])
def test_torch_randperm_matches_torch(n):
    import torch

    expected = torch.randperm(n, generator=torch.Generator().manual_seed(42)).numpy()
    np.testing.assert_array_equal(torch_randperm(n, 42), expected)


def test_map_nlb_split_is_the_ldns_split_on_the_real_counts():
    """MC_Maze: 1721 NLB train + 574 NLB val -> 2008 train, 71 val, 216 test; the second half of
    val is cut as torch.utils.data.random_split([71, 216], generator seed 42) cuts it."""
    import torch
    from torch.utils.data import random_split

    rng = np.random.default_rng(0)
    nlb = rng.permutation(np.array(["train"] * 1721 + ["val"] * 574))
    split = map_nlb_split(nlb)
    assert [(split == s).sum() for s in ("train", "val", "test")] == [2008, 71, 216]
    val = np.flatnonzero(nlb == "val")
    assert (split[val[:287]] == "train").all() and (split[nlb == "train"] == "train").all()
    held = val[287:]
    val_part, test_part = random_split(
        range(287), [71, 216], generator=torch.Generator().manual_seed(42)
    )
    np.testing.assert_array_equal(
        np.sort(np.flatnonzero(split == "val")), np.sort(held[list(val_part.indices)])
    )
    np.testing.assert_array_equal(
        np.sort(np.flatnonzero(split == "test")), np.sort(held[list(test_part.indices)])
    )
    # other sizes: floor(n/2) of val to train, floor(rest/4) to val, the others to test
    small = map_nlb_split(np.array(["train"] * 5 + ["val"] * 11))
    assert [(small == s).sum() for s in ("train", "val", "test")] == [10, 1, 5]
    with pytest.raises(ValueError, match="none"):
        map_nlb_split(np.array(["train", "none"]))


@pytest.fixture(scope="module")
def maze_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("maze") / "maze.nwb"
    truth = write_mc_maze_like(path, n_trials=40, n_units=20, n_heldout=5, n_conditions=9, seed=3)
    return path, truth


@pytest.fixture(scope="module")
def rtt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rtt") / "rtt.nwb"
    truth = write_mc_rtt_like(path, n_trials=40, n_units=16, n_heldout=4, seed=4, n_segments=3)
    return path, truth


def test_simulated_maze_matches_truth(maze_file):
    path, truth = maze_file
    assert sorted(p.name for p in path.parent.iterdir()) == ["maze.nwb", "maze.truth.npz"]
    saved = np.load(truth_path(path))
    np.testing.assert_array_equal(saved["rates_hz"], truth["rates_hz"])
    ds = read_nlb_nwb(path, "mc_maze")
    assert ds.signals.shape == (40, 140, 20) and ds.meta["n_dropped_trials"] == 0
    np.testing.assert_array_equal(ds.channels["unit_id"], truth["unit_id"])
    np.testing.assert_array_equal(ds.channels["heldout"], truth["unit_heldout"])
    np.testing.assert_array_equal(ds.conditions["condition"], truth["condition"])
    np.testing.assert_array_equal(ds.conditions["nlb_split"], truth["nlb_split"])
    assert set(truth["condition"]) == set(range(9))
    angle_error = np.angle(np.exp(1j * (ds.conditions["reach_angle"] - truth["reach_angle"])))
    assert np.abs(angle_error).max() < 0.05
    _assert_counts_follow_rates(ds.signals, truth["rates_hz"])


def test_simulated_rtt_matches_truth(rtt_file):
    path, truth = rtt_file
    ds = read_nlb_nwb(path, "mc_rtt")
    assert ds.signals.shape == (40, 120, 16) and ds.meta["n_dropped_trials"] == 0
    assert ds.behavior_names == ["finger_vel_x", "finger_vel_y"]
    np.testing.assert_array_equal(ds.conditions["trial_id"], truth["trial_id"])
    _assert_counts_follow_rates(ds.signals, truth["rates_hz"])


def _assert_counts_follow_rates(counts: np.ndarray, rates_hz: np.ndarray) -> None:
    """Counts are Poisson draws of the truth: per-unit totals agree, and the truth explains the
    counts better than the truth shifted by 10 ms either way or given to other trials."""
    expected = rates_hz.astype(np.float64) * 0.005
    totals = expected.sum(axis=(0, 1))
    assert np.abs((counts.sum(axis=(0, 1)) - totals) / np.sqrt(totals)).max() < 5

    def loglik(rates: np.ndarray) -> float:
        return float((counts * np.log(rates) - rates).sum())

    aligned = loglik(expected)
    others = [
        np.roll(expected, 2, axis=1),
        np.roll(expected, -2, axis=1),
        np.roll(expected, 1, axis=0),
    ]
    assert all(aligned > loglik(other) + 5 for other in others)


@pytest.mark.parametrize("which", ["maze", "rtt"])
def test_simulated_files_pass_nwbinspector(which, maze_file, rtt_file):
    from nwbinspector import Importance, inspect_nwbfile

    path = (maze_file if which == "maze" else rtt_file)[0]
    critical = list(inspect_nwbfile(nwbfile_path=path, importance_threshold=Importance.CRITICAL))
    assert critical == [], [m.message for m in critical]


@NEEDS_NLB_TOOLS
@pytest.mark.parametrize("which", ["maze", "rtt"])
def test_agrees_with_nlb_tools(which, maze_file, rtt_file):
    from nlb_tools.make_tensors import make_train_input_tensors
    from nlb_tools.nwb_interface import NWBDataset

    name, (path, _) = ("mc_maze", maze_file) if which == "maze" else ("mc_rtt", rtt_file)
    ours = read_nlb_nwb(path, name)
    nlb = NWBDataset(str(path))
    nlb.resample(5)
    held = ours.channels["heldout"]
    for split in ("train", "val"):
        ref = make_train_input_tensors(
            nlb, name, trial_split=split, include_behavior=True, save_file=False
        )
        mine = ours.conditions["nlb_split"] == split
        np.testing.assert_array_equal(ours.signals[mine][:, :, ~held], ref["train_spikes_heldin"])
        np.testing.assert_array_equal(ours.signals[mine][:, :, held], ref["train_spikes_heldout"])
        np.testing.assert_array_equal(
            np.isnan(ours.behavior[mine]), np.isnan(ref["train_behavior"])
        )
        np.testing.assert_allclose(ours.behavior[mine], ref["train_behavior"], rtol=1e-6, atol=1e-4)


def test_fir_lowpass_is_scipy_firwin():
    for numtaps, cutoff in [(501, 0.2), (501, 0.5), (101, 0.1)]:
        np.testing.assert_allclose(
            fir_lowpass(numtaps, cutoff),
            signal.firwin(numtaps, cutoff, window="hamming"),
            rtol=0,
            atol=1e-15,
        )


def _series_file(tmp_path, values: np.ndarray) -> h5py.Dataset:
    f = h5py.File(tmp_path / "series.h5", "w")
    return f.create_dataset("data", data=values)


@pytest.mark.parametrize("layout", ["full", "partial", "nan_values", "unsorted_times"])
def test_windowed_decimation_equals_decimating_the_whole_series(tmp_path, layout):
    """Only the windows' bins are filtered, yet they equal scipy's decimate of the whole
    (gap-filled) 1 ms series, the ends zero-padded; bins whose first sample is missing are NaN."""
    from neurodiff.data.nwb import SampledSeries, fill_gaps

    rng = np.random.default_rng(1)
    n_ms = 4003
    series = np.cumsum(rng.normal(size=(n_ms, 2)), axis=0)
    rows = np.arange(n_ms)
    if layout == "partial":  # samples only in [300, 3700)
        rows = rows[300:3700]
    grid = np.full_like(series, np.nan)
    grid[rows] = series[rows]
    values = series[rows].copy()
    if layout == "nan_values":
        values[1000:1040] = np.nan
        grid[1000:1040] = np.nan
    times = None
    first = int(rows[0])
    if layout == "unsorted_times":
        order = rng.permutation(rows.size)
        values, times, first = values[order], rows[order] / 1000.0, None
    dset = _series_file(tmp_path, values)
    beh = SampledSeries(dset, times, first, n_ms, tmp_path / "series.h5", "x")
    first_bins = np.array([-30, 0, 50, 190, 700, 790])
    beh.load(np.stack([first_bins * 5 - 250, (first_bins + 20) * 5 + 250], axis=1))
    out = beh.binned_windows(first_bins, 20, 5)
    expected_all = signal.decimate(fill_gaps(grid), 5, axis=0, n=500, ftype="fir")
    expected_all[np.isnan(grid[::5])] = np.nan
    bins = first_bins[:, None] + np.arange(20)
    inside = (bins >= 0) & (bins < expected_all.shape[0])
    expected = np.full(out.shape, np.nan)
    expected[inside] = expected_all[bins[inside]]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-9)
    assert np.isnan(out[0, :6]).all() and np.isnan(out[-1, -1]).all()
    dset.file.close()


def _fake_units(trains: list[list[float]], n_ms: int):
    from neurodiff.data.nwb import UnitTable

    flat = np.concatenate([np.asarray(t, dtype=np.float64) for t in trains])
    ends = np.cumsum([len(t) for t in trains])
    return UnitTable(
        ids=np.arange(len(trains)),
        heldout=np.zeros(len(trains), bool),
        obs_intervals=[np.array([[0.0, n_ms / 1000]])] * len(trains),
        spike_dataset=flat,
        spike_ends=ends,
    )


def test_one_pass_binning_handles_overlapping_windows_and_wide_counts():
    """Overlapping windows (MC_RTT) count a spike in each window holding its bin; more than 255
    spikes in a bin switch the tensor to uint16; spikes on unobserved samples are discarded."""
    from neurodiff.data.nwb import bin_spikes_in_windows

    n_ms = 200
    rng = np.random.default_rng(2)
    trains = [np.sort(rng.uniform(0, 0.2, 400)).tolist(), [0.0101] * 300 + [0.0502]]
    units = _fake_units(trains, n_ms)
    valid = np.ones(n_ms, dtype=bool)
    valid[150:160] = False
    starts = np.array([0, 4, 6, 30])  # windows of 10 bins: the first three overlap
    counts, totals = bin_spikes_in_windows(
        units, np.array([1, 0]), {False: valid}, starts, 10, 5, n_ms, Path("fake.nwb")
    )
    assert counts.dtype == np.uint16 and counts.shape == (4, 10, 2)
    for column, unit in enumerate([1, 0]):
        samples = np.round(np.asarray(trains[unit]) * 1000, 6).astype(np.int64)
        per_bin = np.bincount(samples[valid[samples]] // 5, minlength=40)
        expected = per_bin[starts[:, None] + np.arange(10)]
        np.testing.assert_array_equal(counts[:, :, column], expected)
        assert totals[column] == expected.sum()
    assert counts[0, 2, 0] == 300


def test_decimation_matrix_rows_hold_the_reversed_filter():
    matrix = decimation_matrix(3, 5)
    h = fir_lowpass(501, 0.2)
    assert matrix.shape == (3, 511)
    np.testing.assert_array_equal(matrix[1, 5:506], h[::-1])
    assert not matrix[1, :5].any() and not matrix[1, 506:].any()
