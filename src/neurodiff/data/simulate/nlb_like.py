"""Simulated reaching monkeys written as NWB files with the layout of the NLB dandisets.

`write_mc_maze_like` mirrors DANDI 000128 (MC_Maze) and `write_mc_rtt_like` DANDI 000129
(MC_RTT): the same groups, tables, column names, dtypes and ragged columns, so that the files go
through `neurodiff.data.nwb.read_nlb_nwb` and nlb_tools alike. Positions are in mm and velocities
in mm/s, declared as metres with ``conversion=1e-3``. Behaviour is sampled at 1 kHz with explicit
timestamps ``arange(n) / 1000`` covering the whole recording from 0 s (nlb_tools with pandas 2.x
fails on partial coverage); MC_RTT behaviour is NaN between its segments. Units are observed
(``obs_intervals``) during each MC_Maze trial, as in DANDI 000128, and during each MC_RTT segment.

Simulation (ground truth saved beside the NWB file as ``<stem>.truth.npz``):

* Kinematics: minimum-jerk reaches. MC_Maze: mazes (``trial_type``), each in
  three versions - 0 straight, 1 curving to one side of a barrier, 2 curving to the other side with
  two distractor targets; a little postural sway is added. MC_RTT: continuous reaches between
  random targets of an 8 x 8 grid, in segments separated by unobserved gaps.
* Kinematics, MC_Maze: each (trial_type, trial_version) condition has its own reach angle (the
  versions of a maze sit a third of the maze spacing apart), so no two conditions share an end
  point.
* Neurons, MC_Maze: low-dimensional population dynamics. Three rotational planes (1-2.6 Hz)
  relax during the delay to a condition-dependent initial state (scaled by a trial gain, plus
  noise), then rotate and decay from ~150 ms before movement onset; state noise, a slow
  fluctuation shared by all units, a condition-independent movement transient and log-linear
  tuning to the lagged hand velocity (cosine of direction plus speed, 50-150 ms lead) are added.
  The latent state thus contains the lagged velocity, which a linear readout recovers. Each
  unit's log rate is an affine map of this drive set on a pilot of trials so that its median is
  1-15 Hz and its peak 25-80 Hz.
* Neurons, MC_RTT: log-linear tuning to finger velocity at a per-unit lag plus a position term.
* Spikes: an inhomogeneous Poisson process with rates constant within each 1 ms sample; each
  spike time lies inside its sample, 0.05-0.95 ms from its edges, so that every binning rule puts it
  in the same sample.
* Truth ``rates_hz``: the rate averaged over each 5 ms bin of the window nlb_tools and
  ``read_nlb_nwb`` use ((-250, 450) ms around move onset, or (0, 600) ms from trial start), units in
  reader order (held-in then held-out).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
from numpy.lib.stride_tricks import sliding_window_view
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.behavior import SpatialSeries
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.misc import Units
from scipy import signal

from neurodiff.io import atomic_path

TRUTH_BIN_MS = 5
MAZE_WINDOW_MS = (-250, 450)
RTT_WINDOW_MS = (0, 600)
RTT_TRIAL_MS = 600
LAG_RANGE_MS = (50, 150)
MAX_RATE_HZ = 250.0
N_PLANES = 3  # rotational planes of the MC_Maze-like latent dynamics
VERSION_SLOT = (1, 0, 2)  # angular slot of trial_version 0, 1, 2 inside its maze's sector
UTAH_SIDE = 10
UTAH_PITCH_MM = 0.4
SPIKE_RESOLUTION_S = 1 / 30000
SPLIT_DESCRIPTION = (
    "Trial split that the trial belongs to for the Neural Latents Benchmark. "
    'Can be "train", "val", "test", or "none"'
)

MAZE_SESSION = {
    "session_description": "Simulated monkey performing a center-out delayed reaching task with "
    "maze barriers, laid out like the MC_Maze train file (DANDI 000128).",
    "experiment_description": "Center-out delayed reaching task with maze barriers (simulated)",
    "session_id": "full",
    "institution": "neurodiff simulation",
    "lab": "simulation",
    "start": dt.datetime(2009, 9, 25, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
}
RTT_SESSION = {
    "session_description": "Simulated monkey performing self-paced random target reaching, laid "
    "out like the MC_RTT train file (DANDI 000129): continuous segments.",
    "experiment_description": "Self-paced reaches to targets arranged in a grid (simulated)",
    "session_id": "20170202_02",
    "institution": "neurodiff simulation",
    "lab": "simulation",
    "start": dt.datetime(2017, 2, 2, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
}
MAZE_TRIAL_COLUMNS = {
    "start_time": "Start time of epoch, in seconds",
    "stop_time": "Stop time of epoch, in seconds",
    "move_onset_time": "Time of movement onset (simulated reach start)",
    "go_cue_time": "Time of go cue delivery",
    "target_on_time": "Time of target presentation",
    "trial_type": "A number representing the maze that was used for the trial",
    "trial_version": "A number 0-2 indicating which variant of the maze is presented. 0 is "
    "1-target no-barrier, 1 is 1-target with barriers, 2 is 3-target with barriers",
    "maze_id": "A unique identifier for each maze, lumping all 3 `trial_version`s",
    "delay": "Delay between target presentation and go cue, in ms",
    "rt": "Delay between go cue and movement onset",
    "num_targets": "The number of targets for the trial",
    "num_barriers": "The number of barriers for the trial",
    "active_target": "Which target is reachable and was hit. Value is the index of the target "
    "in target_pos list",
    "success": "If the monkey was successful on the trial",
    "split": SPLIT_DESCRIPTION,
    "target_pos": "Array with rows containing x and y coordinates of target location, "
    "respectively, for each target",
    "barrier_pos": "Array with rows containing barrier location information: x, y of the centre, "
    "half width, half height",
}


@dataclass
class Tuning:
    """Tuning of the simulated units, in file order."""

    baseline_hz: np.ndarray
    preferred_direction: np.ndarray
    velocity_gain: np.ndarray
    speed_gain: np.ndarray
    context_gain: np.ndarray
    context_direction: np.ndarray
    lag_ms: np.ndarray

    def log_rates(self, vel: np.ndarray, velocity_scale: float) -> np.ndarray:
        """Log rate (T, N) from velocity (T + max lag, 2) read ``lag_ms`` later than each sample."""
        n_ms = vel.shape[0] - int(self.lag_ms.max())
        vx, vy = (sliding_window_view(vel[:, k], n_ms)[self.lag_ms] for k in range(2))
        along = (
            vx * np.cos(self.preferred_direction)[:, None]
            + vy * np.sin(self.preferred_direction)[:, None]
        )
        drive = self.velocity_gain[:, None] * along + self.speed_gain[:, None] * np.hypot(vx, vy)
        return (np.log(self.baseline_hz)[:, None] + drive / velocity_scale).T


def truth_path(nwb_path: str | os.PathLike) -> Path:
    """Path of the ground-truth file written beside a simulated NWB file."""
    nwb_path = Path(nwb_path)
    return nwb_path.with_name(f"{nwb_path.stem}.truth.npz")


def write_mc_maze_like(
    path: str | os.PathLike,
    n_trials: int = 200,
    n_units: int = 60,
    n_heldout: int = 15,
    n_conditions: int = 27,
    seed: int = 0,
    val_fraction: float = 0.25,
) -> dict[str, np.ndarray]:
    """Write an MC_Maze-like NWB file and its truth; return the truth arrays.

    ``n_conditions`` counts (trial_type, trial_version) pairs: condition c is maze c // 3 + 1 in
    version c % 3. Every condition appears when ``n_trials >= n_conditions``. Splits are NLB
    "train"/"val" (fraction ``val_fraction``), interleaved at random.
    """
    _check_sizes(n_trials, n_units, n_heldout, val_fraction)
    if n_conditions < 1:
        raise ValueError(f"n_conditions must be >= 1, got {n_conditions}")
    rng = np.random.default_rng(seed)
    conds = _maze_conditions(rng, n_conditions)
    cond_of_trial = rng.permutation(np.resize(rng.permutation(n_conditions), n_trials))
    timeline = _maze_timeline(rng, n_trials)
    heldout = _draw_heldout(rng, n_units, n_heldout)
    tuning = _draw_tuning(rng, n_units)
    reader_order = np.concatenate([np.flatnonzero(~heldout), np.flatnonzero(heldout)])
    n_ms = int(timeline["stop"][-1])
    start_xy = rng.normal(0.0, 1.5, (n_trials, 2))
    hand = _maze_session_path(
        rng, timeline, conds, cond_of_trial, start_xy, n_ms + int(tuning.lag_ms.max())
    )
    vel = np.gradient(hand, axis=0) * 1000.0
    displacement = conds["target"][cond_of_trial] - start_xy
    dynamics = _draw_maze_dynamics(rng, conds, n_units)
    spikes, rates_truth = _maze_spikes(rng, tuning, dynamics, vel, timeline, cond_of_trial)
    eye = _eye_path(timeline, conds["target"][cond_of_trial], n_ms)
    splits = _draw_splits(rng, n_trials, val_fraction)
    nwb = _new_nwbfile(MAZE_SESSION, rng)
    electrode_of_unit = _add_electrodes(nwb, rng, [("M1", "M1"), ("PMd", "PMd")], n_units)
    intervals = np.stack([timeline["start"], timeline["stop"]], axis=1) / 1000.0
    _add_units(nwb, _spike_trains(spikes, n_units), heldout, intervals, electrode_of_unit)
    _add_maze_trials(nwb, timeline, conds, cond_of_trial, splits)
    _add_maze_behavior(nwb, hand[:n_ms], vel[:n_ms], eye)
    pairs = np.stack([conds["trial_type"], conds["trial_version"]], axis=1)[cond_of_trial]
    truth = {
        "trial_id": np.arange(n_trials),
        "nlb_split": splits,
        "trial_type": pairs[:, 0],
        "trial_version": pairs[:, 1],
        "condition": np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1),
        "reach_angle": np.arctan2(displacement[:, 1], displacement[:, 0]),
        "move_onset_time": timeline["onset"] / 1000.0,
        "rates_hz": rates_truth[:, :, reader_order],
        "bin_ms": np.array(TRUTH_BIN_MS),
        "window_ms": np.array(MAZE_WINDOW_MS),
        **_unit_truth(tuning, heldout, reader_order),
    }
    _write(nwb, path, truth)
    return truth


def write_mc_rtt_like(
    path: str | os.PathLike,
    n_trials: int = 120,
    n_units: int = 40,
    n_heldout: int = 10,
    seed: int = 0,
    n_segments: int = 4,
    val_fraction: float = 0.2,
) -> dict[str, np.ndarray]:
    """Write an MC_RTT-like NWB file and its truth; return the truth arrays.

    The trials are consecutive 600 ms pieces of ``n_segments`` continuous segments; each segment
    ends 0-295 ms after its last trial, so a lagged behaviour window may reach into the gap.
    """
    _check_sizes(n_trials, n_units, n_heldout, val_fraction)
    if not 1 <= n_segments <= n_trials:
        raise ValueError(f"n_segments must be in [1, n_trials={n_trials}], got {n_segments}")
    rng = np.random.default_rng(seed)
    heldout = _draw_heldout(rng, n_units, n_heldout)
    tuning = _draw_tuning(rng, n_units)
    reader_order = np.concatenate([np.flatnonzero(~heldout), np.flatnonzero(heldout)])
    segments, seg_start = [], 1000
    for n_seg_trials in (len(s) for s in np.array_split(np.arange(n_trials), n_segments)):
        segments.append(_rtt_segment(rng, tuning, seg_start, n_seg_trials))
        seg_start = segments[-1]["bounds"][1] + TRUTH_BIN_MS * int(rng.integers(200, 600))
    bounds = [seg["bounds"] for seg in segments]
    starts = np.concatenate([seg["trial_start"] for seg in segments]) / 1000.0
    splits = _draw_splits(rng, n_trials, val_fraction)
    nwb = _new_nwbfile(RTT_SESSION, rng)
    electrode_of_unit = _add_electrodes(nwb, rng, [("", "M1")], n_units)
    _add_units(
        nwb,
        _spike_trains([seg["spikes"] for seg in segments], n_units),
        heldout,
        np.array(bounds) / 1000.0,
        electrode_of_unit,
    )
    nwb.trials = _trial_table(
        {
            "start_time": (MAZE_TRIAL_COLUMNS["start_time"], starts),
            "stop_time": (MAZE_TRIAL_COLUMNS["stop_time"], starts + RTT_TRIAL_MS / 1000.0),
            "split": (SPLIT_DESCRIPTION, list(splits)),
        }
    )
    _add_rtt_behavior(nwb, *_fill_gaps(bounds, [seg["behavior"] for seg in segments]))
    rates = np.concatenate([seg["rates"] for seg in segments])[:, :, reader_order]
    truth = {
        "trial_id": np.arange(n_trials),
        "nlb_split": splits,
        "start_time": starts,
        "rates_hz": rates,
        "segments_s": np.array(bounds) / 1000.0,
        "bin_ms": np.array(TRUTH_BIN_MS),
        "window_ms": np.array(RTT_WINDOW_MS),
        **_unit_truth(tuning, heldout, reader_order),
    }
    _write(nwb, path, truth)
    return truth


def _check_sizes(n_trials: int, n_units: int, n_heldout: int, val_fraction: float) -> None:
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not 0 <= n_heldout < n_units:
        raise ValueError(f"n_heldout must be in [0, n_units={n_units}), got {n_heldout}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")


def _draw_heldout(rng: np.random.Generator, n_units: int, n_heldout: int) -> np.ndarray:
    heldout = np.zeros(n_units, dtype=bool)
    heldout[rng.choice(n_units, n_heldout, replace=False)] = True
    return heldout


def _draw_tuning(rng: np.random.Generator, n_units: int) -> Tuning:
    return Tuning(
        baseline_hz=np.clip(np.exp(rng.normal(np.log(6.0), 0.6, n_units)), 0.5, 40.0),
        preferred_direction=rng.uniform(-np.pi, np.pi, n_units),
        velocity_gain=rng.uniform(0.4, 1.2, n_units),
        speed_gain=rng.uniform(0.0, 0.6, n_units),
        context_gain=rng.uniform(0.0, 0.8, n_units),
        context_direction=rng.uniform(-np.pi, np.pi, n_units),
        lag_ms=rng.integers(*LAG_RANGE_MS, n_units, endpoint=True),
    )


def _draw_splits(rng: np.random.Generator, n_trials: int, val_fraction: float) -> np.ndarray:
    splits = np.full(n_trials, "train", dtype=object)
    splits[rng.choice(n_trials, int(round(val_fraction * n_trials)), replace=False)] = "val"
    return splits.astype(str)


def _unit_truth(tuning: Tuning, heldout: np.ndarray, order: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "unit_id": order,
        "unit_heldout": heldout[order],
        "baseline_hz": tuning.baseline_hz[order],
        "preferred_direction": tuning.preferred_direction[order],
        "lag_ms": tuning.lag_ms[order],
    }


def _maze_conditions(rng: np.random.Generator, n_conditions: int) -> dict[str, np.ndarray]:
    """Per condition: maze, version, reach angle and distance, sideways bend, targets, barriers."""
    n_mazes = -(-n_conditions // 3)
    maze_distance = rng.uniform(80.0, 130.0, n_mazes)
    maze_bend = rng.uniform(0.15, 0.35, n_mazes) * rng.choice([-1.0, 1.0], n_mazes)
    maze = np.arange(n_conditions) // 3
    version = np.arange(n_conditions) % 3
    # Every condition has its own end point: the three versions of a maze sit a third of the
    # maze spacing apart (version 1 on the maze's base angle, 0 and 2 after it), so no two
    # conditions share a target and, e.g., maze 2 version 1 of 8 conditions lies alone at ~120°.
    slot = maze + np.array(VERSION_SLOT)[version] / 3.0
    angle = 2 * np.pi * slot / n_mazes + rng.uniform(-0.05, 0.05, n_conditions)
    distance = maze_distance[maze]
    bend = maze_bend[maze] * distance * np.select([version == 1, version == 2], [1.0, -1.0], 0.0)
    target = np.stack([np.cos(angle), np.sin(angle)], axis=1) * distance[:, None]
    targets, barriers, active = [], [], []
    for c in range(n_conditions):
        n_targets = 3 if version[c] == 2 else 1
        offsets = np.concatenate(
            [[0.0], rng.uniform(1.0, 2.0, n_targets - 1) * rng.choice([-1.0, 1.0], n_targets - 1)]
        )
        positions = np.stack([np.cos(angle[c] + offsets), np.sin(angle[c] + offsets)], axis=1)
        active.append(int(rng.integers(n_targets)))
        positions = np.roll(positions * distance[c], active[-1], axis=0)
        targets.append(np.round(positions).astype(np.int16))
        barriers.append(_barriers(rng, target[c], bend[c], int(version[c] > 0)))
    return {
        "trial_type": maze + 1,
        "trial_version": version,
        "angle": angle,
        "bend": bend,
        "target": target,
        "targets": targets,
        "barriers": barriers,
        "active_target": np.array(active),
    }


def _barriers(
    rng: np.random.Generator, target: np.ndarray, bend: float, has_barriers: int
) -> np.ndarray:
    """Rows (x, y, half width, half height) of barriers on the inside of the bend."""
    n = int(rng.integers(1, 9)) * has_barriers
    normal = np.array([-target[1], target[0]]) / np.linalg.norm(target)
    centers = target * rng.uniform(0.3, 0.7, (n, 1)) - normal * np.sign(bend) * rng.uniform(
        5.0, 20.0, (n, 1)
    )
    sizes = rng.integers(2, 15, (n, 2))
    return np.concatenate([np.round(centers).astype(np.int64), sizes], axis=1)


def _maze_timeline(rng: np.random.Generator, n_trials: int) -> dict[str, np.ndarray]:
    """Integer-ms event times; windows and lagged behaviour stay inside each trial."""
    target_on_after = rng.integers(200, 400, n_trials)
    delay = rng.integers(0, 1000, n_trials)
    rt = rng.integers(250, 400, n_trials)
    duration = rng.integers(300, 420, n_trials)
    length = target_on_after + delay + rt + MAZE_WINDOW_MS[1] + 250 + rng.integers(0, 200, n_trials)
    gaps = rng.integers(200, 600, n_trials)
    start = 500 + np.concatenate([[0], np.cumsum(length + gaps)[:-1]])
    target_on = start + target_on_after
    onset = target_on + delay + rt
    return {
        "start": start,
        "stop": start + length,
        "target_on": target_on,
        "go_cue": target_on + delay,
        "onset": onset,
        "delay": delay,
        "rt": rt,
        "duration": duration,
    }


def _min_jerk(fraction: np.ndarray) -> np.ndarray:
    tau = np.clip(fraction, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def _sway(rng: np.random.Generator, t_ms: np.ndarray, amplitude_mm: float = 0.3) -> np.ndarray:
    """Slow postural sway (T, 2): a few random sinusoids per axis."""
    freq = rng.uniform(0.5, 3.0, (3, 2))
    phase = rng.uniform(0, 2 * np.pi, (3, 2))
    return amplitude_mm * np.sin(2 * np.pi * freq * t_ms[:, None, None] / 1000.0 + phase).sum(1)


@dataclass
class MazeDynamics:
    """Latent population dynamics of the MC_Maze-like units (file order)."""

    initial_state: np.ndarray  # (conditions, planes) complex: preparatory state per condition
    omega: np.ndarray  # (planes,) rad/s of each rotational plane
    rotation_loading: np.ndarray  # (2 * planes, units): [Re, Im] of each plane -> drive
    cis_loading: np.ndarray  # (units,) condition-independent movement transient
    shared_loading: np.ndarray  # (units,) slow fluctuation common to the population
    baseline_hz: np.ndarray  # (units,) rate at the median drive
    peak_hz: np.ndarray  # (units,) rate at the 99.5th percentile of the pilot drive
    velocity_weight: float  # share of the lagged-velocity drive beside the latents


def _draw_maze_dynamics(
    rng: np.random.Generator, conds: dict[str, np.ndarray], n_units: int
) -> MazeDynamics:
    """Rotational planes at 1-2.6 Hz whose preparatory state depends on the reach condition."""
    angle, bend = conds["angle"], np.sign(conds["bend"])
    features = np.stack(
        [np.cos(angle), np.sin(angle), np.cos(2 * angle), np.sin(2 * angle), 0.5 * bend], axis=1
    )
    mixing = rng.normal(size=(features.shape[1], N_PLANES)) + 1j * rng.normal(
        size=(features.shape[1], N_PLANES)
    )
    initial = features @ mixing
    initial /= np.sqrt(np.mean(np.abs(initial) ** 2, axis=0))
    return MazeDynamics(
        initial_state=initial,
        omega=2 * np.pi * np.linspace(1.0, 2.6, N_PLANES),
        rotation_loading=rng.normal(0.0, 1.0 / np.sqrt(N_PLANES), (2 * N_PLANES, n_units)),
        cis_loading=rng.normal(0.6, 0.3, n_units),
        shared_loading=rng.uniform(0.1, 0.4, n_units),
        baseline_hz=np.clip(np.exp(rng.normal(np.log(6.0), 0.5, n_units)), 1.0, 15.0),
        peak_hz=rng.uniform(25.0, 80.0, n_units),
        velocity_weight=0.8,
    )


def _maze_latents(
    rng: np.random.Generator,
    dyn: MazeDynamics,
    condition: int,
    events_ms: dict[str, int],
    n_ms: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rotational latents (n_ms, 2 * planes) and a shared fluctuation (n_ms,) of one trial.

    Each plane relaxes (60 ms) to 0 until 100 ms after target onset, then to the condition's
    initial state scaled by a trial gain plus noise, and from ``lead`` ms before movement onset
    rotates at its frequency while decaying (400 ms); state noise is added throughout.
    """
    prep = int(np.clip(events_ms["target_on"] + 100, 1, n_ms - 2))
    lead = int(np.clip(150 + rng.normal(0.0, 20.0), 80, 220))
    rot = int(np.clip(events_ms["onset"] - lead, prep + 1, n_ms - 1))
    goal = dyn.initial_state[condition] * rng.normal(1.0, 0.15) + 0.3 * (
        rng.normal(size=N_PLANES) + 1j * rng.normal(size=N_PLANES)
    ) / np.sqrt(2)
    noise = (
        0.6
        * np.sqrt(1e-3)
        * (rng.normal(size=(n_ms, N_PLANES)) + 1j * rng.normal(size=(n_ms, N_PLANES)))
        / np.sqrt(2)
    )
    relax = np.exp(-1e-3 / 0.06)
    state = np.zeros((n_ms, N_PLANES), complex)
    for k in range(N_PLANES):
        w = 0.0 + 0.0j
        pieces = [
            (0, prep, relax, 0.0),
            (prep, rot, relax, goal[k]),
            (rot, n_ms, np.exp((-1 / 0.4 + 1j * dyn.omega[k]) * 1e-3), 0.0),
        ]
        for a, b, coef, target in pieces:
            drive = noise[a:b, k] + (1 - coef) * target
            state[a:b, k], zf = signal.lfilter([1.0], [1.0, -coef], drive, zi=[coef * w])
            w = zf[0]
    shared = signal.lfilter(
        [np.sqrt(1 - np.exp(-2e-3 / 0.15))], [1.0, -np.exp(-1e-3 / 0.15)], rng.normal(size=n_ms)
    )
    return np.concatenate([state.real, state.imag], axis=1), shared


def _maze_drive(
    rng: np.random.Generator,
    dyn: MazeDynamics,
    tuning: Tuning,
    vel: np.ndarray,
    condition: int,
    events_ms: dict[str, int],
    n_ms: int,
) -> np.ndarray:
    """Unscaled drive (n_ms, units): latents, movement transient, shared and velocity terms."""
    latents, shared = _maze_latents(rng, dyn, condition, events_ms, n_ms)
    cis = _window_profile(np.arange(n_ms), events_ms["onset"] - 100, events_ms["onset"] + 300)
    velocity = tuning.log_rates(vel, velocity_scale=400.0) - np.log(tuning.baseline_hz)
    return (
        latents @ dyn.rotation_loading
        + np.outer(cis, dyn.cis_loading)
        + np.outer(shared, dyn.shared_loading)
        + dyn.velocity_weight * velocity
        + rng.normal(0.0, 0.1)
    )


def _maze_spikes(
    rng: np.random.Generator,
    tuning: Tuning,
    dyn: MazeDynamics,
    vel: np.ndarray,
    timeline: dict[str, np.ndarray],
    cond_of_trial: np.ndarray,
) -> tuple[list, np.ndarray]:
    """Spikes of every trial and the true rates (trials, bins, units in file order).

    Log rates are an affine map of the drive of `_maze_drive`, per unit chosen on a pilot of up
    to 40 trials so that the median drive gives ``baseline_hz`` and its 99.5th percentile
    ``peak_hz``. Each trial's latent noise comes from its own seed, so the pilot and the final
    pass see the same trials.
    """
    n_bins = (MAZE_WINDOW_MS[1] - MAZE_WINDOW_MS[0]) // TRUTH_BIN_MS
    max_lag = int(tuning.lag_ms.max())
    trial_seeds = rng.integers(2**63, size=len(cond_of_trial))

    def drive(i: int) -> tuple[np.ndarray, int, int]:
        start, stop, onset = (int(timeline[k][i]) for k in ("start", "stop", "onset"))
        events = {"target_on": int(timeline["target_on"][i]) - start, "onset": onset - start}
        d = _maze_drive(
            np.random.default_rng(trial_seeds[i]),
            dyn,
            tuning,
            vel[start : stop + max_lag],
            int(cond_of_trial[i]),
            events,
            stop - start,
        )
        return d, start, -(-(onset + MAZE_WINDOW_MS[0]) // TRUTH_BIN_MS)

    pilot = np.concatenate(
        [
            _bin_rates(d, s, b, n_bins)
            for d, s, b in (drive(i) for i in range(min(40, len(cond_of_trial))))
        ]
    )
    median, top = np.median(pilot, axis=0), np.quantile(pilot, 0.995, axis=0)
    gain = np.log(dyn.peak_hz / dyn.baseline_hz) / np.maximum(top - median, 1e-6)
    spikes, truth = [], np.empty((len(cond_of_trial), n_bins, len(tuning.lag_ms)), np.float32)
    for i in range(len(cond_of_trial)):
        d, start, first_bin = drive(i)
        rates = np.minimum(dyn.baseline_hz * np.exp(gain * (d - median)), MAX_RATE_HZ)
        spikes.append(_poisson_spikes(rng, rates, start))
        truth[i] = _bin_rates(rates, start, first_bin, n_bins)
    return spikes, truth


def _maze_session_path(
    rng: np.random.Generator,
    timeline: dict[str, np.ndarray],
    conds: dict[str, np.ndarray],
    cond_of_trial: np.ndarray,
    start_xy: np.ndarray,
    n_ms: int,
) -> np.ndarray:
    """Hand position (n_ms, 2) from 0 ms.

    In each trial: a hold at ``start_xy``, a minimum-jerk reach bent sideways by the maze, a hold
    at the target; between trials a return movement to the next start; postural sway throughout.
    """
    hand = np.empty((n_ms, 2))
    previous_xy, previous_stop = start_xy[0], 0
    for i, c in enumerate(cond_of_trial):
        start, stop = int(timeline["start"][i]), int(timeline["stop"][i])
        back = _min_jerk(np.arange(start - previous_stop) / max(start - previous_stop, 1))
        hand[previous_stop:start] = previous_xy + back[:, None] * (start_xy[i] - previous_xy)
        along = conds["target"][c] - start_xy[i]
        normal = np.array([-along[1], along[0]]) / np.linalg.norm(along)
        s = _min_jerk((np.arange(start, stop) - timeline["onset"][i]) / timeline["duration"][i])[
            :, None
        ]
        hand[start:stop] = start_xy[i] + s * along + conds["bend"][c] * np.sin(np.pi * s) * normal
        previous_xy, previous_stop = conds["target"][c], stop
    hand[previous_stop:] = previous_xy
    return hand + _sway(rng, np.arange(n_ms))


def _eye_path(timeline: dict[str, np.ndarray], targets: np.ndarray, n_ms: int) -> np.ndarray:
    """Eye position (n_ms, 2): the centre, and the target from 150 ms after it appears."""
    eye = np.zeros((n_ms, 2))
    for i, target in enumerate(targets):
        eye[int(timeline["target_on"][i]) + 150 : int(timeline["stop"][i])] = target
    return eye


def _window_profile(t_ms: np.ndarray, on_ms: int, off_ms: int, edge_ms: float = 25.0) -> np.ndarray:
    """Smooth indicator of [on_ms, off_ms)."""
    rise = 1.0 / (1.0 + np.exp(-(t_ms - on_ms) / edge_ms))
    fall = 1.0 / (1.0 + np.exp((t_ms - off_ms) / edge_ms))
    return rise * fall


def _rtt_segment(rng: np.random.Generator, tuning: Tuning, start: int, n_trials: int) -> dict:
    """One continuous segment of ``n_trials`` 600 ms trials plus a 0-295 ms tail.

    Returns its bounds (ms), behaviour (finger, velocity, target), spikes, trial starts (ms) and
    true rates (trials, bins, units in file order). Rates follow the lagged finger velocity plus
    a term tuned to finger position.
    """
    stop = start + n_trials * RTT_TRIAL_MS + TRUTH_BIN_MS * int(rng.integers(60))
    n_ms = stop - start
    finger, target = _rtt_finger_path(rng, n_ms + int(tuning.lag_ms.max()))
    vel = np.gradient(finger[:, :2], axis=0) * 1000.0
    position = finger[:n_ms, :1] * np.cos(tuning.context_direction) + finger[:n_ms, 1:2] * np.sin(
        tuning.context_direction
    )
    log_rate = tuning.log_rates(vel, velocity_scale=200.0) + tuning.context_gain * position / 50.0
    rates = np.minimum(np.exp(log_rate), MAX_RATE_HZ)
    trial_start = start + RTT_TRIAL_MS * np.arange(n_trials)
    n_bins = (RTT_WINDOW_MS[1] - RTT_WINDOW_MS[0]) // TRUTH_BIN_MS
    return {
        "bounds": (start, stop),
        "behavior": (finger[:n_ms], vel[:n_ms], target[:n_ms]),
        "spikes": _poisson_spikes(rng, rates, start),
        "trial_start": trial_start,
        "rates": np.stack(
            [_bin_rates(rates, start, t // TRUTH_BIN_MS, n_bins) for t in trial_start]
        ).astype(np.float32),
    }


def _rtt_finger_path(rng: np.random.Generator, n_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Finger (T, 3) and target (T, 2) positions: a hold then a reach to each new grid target."""
    grid = (np.arange(8) - 3.5) * 15.0
    finger = np.empty((n_ms, 3))
    target = np.empty((n_ms, 2))
    current = rng.choice(grid, 2)
    t = 0
    while t < n_ms:
        nxt = current
        while np.array_equal(nxt, current):
            nxt = rng.choice(grid, 2)
        hold, reach = int(rng.integers(50, 300)), int(rng.integers(350, 700))
        s = _min_jerk((np.arange(hold + reach) - hold) / reach)
        stop = min(t + hold + reach, n_ms)
        finger[t:stop, :2] = (current + s[:, None] * (nxt - current))[: stop - t]
        target[t:stop] = nxt
        t, current = stop, nxt
    t_ms = np.arange(n_ms)
    finger[:, :2] += _sway(rng, t_ms)
    finger[:, 2] = 20.0 + _sway(rng, t_ms)[:, 0]
    return finger, target


def _poisson_spikes(
    rng: np.random.Generator, rates_hz: np.ndarray, t0_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson spikes of rates (T, N) held constant in each 1 ms sample from ``t0_ms``.

    Returns (unit index, time in s), sorted by unit then time.
    """
    per_ms = rates_hz.T / 1000.0
    n_units, n_ms = per_ms.shape
    cum = np.cumsum(per_ms.ravel())
    totals = per_ms.sum(axis=1)
    block_start = np.concatenate([[0.0], cum[n_ms - 1 :: n_ms][:-1]])
    unit = np.repeat(np.arange(n_units), rng.poisson(totals))
    u = np.sort(block_start[unit] + rng.random(unit.size) * totals[unit])
    flat = np.minimum(np.searchsorted(cum, u, side="right"), cum.size - 1)
    rate = per_ms.ravel()[flat]
    within = np.clip((u - (cum[flat] - rate)) / rate, 0.0, 1.0)
    times = (t0_ms + flat % n_ms + 0.05 + 0.9 * within) / 1000.0
    return flat // n_ms, times


def _spike_trains(chunks: list[tuple[np.ndarray, np.ndarray]], n_units: int) -> list[np.ndarray]:
    """One sorted spike-time array per unit from chunks in chronological order."""
    unit = np.concatenate([u for u, _ in chunks])
    times = np.concatenate([t for _, t in chunks])
    order = np.argsort(unit, kind="stable")
    return np.split(times[order], np.cumsum(np.bincount(unit, minlength=n_units))[:-1])


def _bin_rates(rates_hz: np.ndarray, t0_ms: int, first_bin: int, n_bins: int) -> np.ndarray:
    """Mean rate over each ``TRUTH_BIN_MS`` bin, bins counted from 0 ms on the recording clock."""
    local = first_bin * TRUTH_BIN_MS - t0_ms + np.arange(n_bins * TRUTH_BIN_MS)
    return rates_hz[local].reshape(n_bins, TRUTH_BIN_MS, -1).mean(axis=1)


def _new_nwbfile(session: dict, rng: np.random.Generator) -> NWBFile:
    return NWBFile(
        session_description=session["session_description"],
        identifier=str(uuid.UUID(bytes=rng.bytes(16))),
        session_start_time=session["start"],
        file_create_date=session["start"],
        timestamps_reference_time=session["start"],
        experiment_description=session["experiment_description"],
        experimenter=["Simulator, Neurodiff"],
        institution=session["institution"],
        lab=session["lab"],
        session_id=session["session_id"],
        keywords=["motor cortex", "reaching", "macaque", "Neural Latents Benchmark", "simulated"],
        subject=Subject(
            subject_id="simulated",
            species="Macaca mulatta",
            sex="M",
            age="P8Y",
            description="simulated monkey",
        ),
    )


def _add_electrodes(
    nwb: NWBFile, rng: np.random.Generator, arrays: list[tuple[str, str]], n_units: int
) -> np.ndarray:
    """One 96-channel Utah array per entry (suffix, area); returns an electrode per unit."""
    nwb.add_electrode_column("imp", "the impedance of the channel")
    grid = np.arange(UTAH_SIDE * UTAH_SIDE)
    pads = grid[~np.isin(grid, [0, UTAH_SIDE - 1, UTAH_SIDE * (UTAH_SIDE - 1), grid[-1]])]
    for suffix, area in arrays:
        name = f"_{suffix}" if suffix else ""
        device = nwb.create_device(
            f"electrode_array{name}", description=f"96-electrode Utah array in {area}"
        )
        group = nwb.create_electrode_group(
            f"electrode_group{name}",
            device=device,
            location=area,
            description=f"Electrodes in an implanted Utah array in {area}",
        )
        for pad in pads:
            nwb.add_electrode(
                group=group,
                location=area,
                filtering="simulated",
                x=float(pad % UTAH_SIDE * UTAH_PITCH_MM),
                y=float(pad // UTAH_SIDE * UTAH_PITCH_MM),
                z=0.0,
                imp=float(rng.uniform(1e5, 8e5)),
            )
    return rng.choice(len(pads) * len(arrays), n_units)


def _add_units(
    nwb: NWBFile,
    trains: list[np.ndarray],
    heldout: np.ndarray,
    intervals: np.ndarray,
    electrode_of_unit: np.ndarray,
) -> None:
    """The units table, built from whole columns (row-wise adds are slow for many spikes)."""
    n_units = len(trains)
    electrodes = DynamicTableRegion(
        name="electrodes",
        data=electrode_of_unit.astype(np.int64),
        description="the electrodes that each spike unit came from",
        table=nwb.electrodes,
    )
    columns = _columns(
        {
            "spike_times": ("the spike times for each unit in seconds", trains),
            "obs_intervals": ("the observation intervals for each unit", [intervals] * n_units),
            "heldout": (
                "Whether the unit is held out in the test data (True) or not (False) in the "
                "Neural Latents Benchmark",
                heldout.astype(bool),
            ),
        }
    )
    columns += [
        electrodes,
        VectorIndex(name="electrodes_index", data=np.arange(1, n_units + 1), target=electrodes),
    ]
    nwb.units = Units(
        name="units",
        description="data on spiking units",
        id=np.arange(n_units),
        columns=columns,
        resolution=SPIKE_RESOLUTION_S,
    )


def _columns(spec: dict[str, tuple[str, np.ndarray | list]]) -> list[VectorData | VectorIndex]:
    """VectorData per (description, values); a list of arrays becomes a ragged column + index."""
    columns = []
    for name, (description, values) in spec.items():
        if isinstance(values, list) and values and isinstance(values[0], np.ndarray):
            flat = VectorData(name=name, description=description, data=np.concatenate(values))
            ends = np.cumsum([len(v) for v in values])
            columns += [flat, VectorIndex(name=f"{name}_index", data=ends, target=flat)]
        else:
            columns.append(VectorData(name=name, description=description, data=values))
    return columns


def _trial_table(spec: dict[str, tuple[str, np.ndarray | list]]) -> TimeIntervals:
    return TimeIntervals(name="trials", description="experimental trials", columns=_columns(spec))


def _add_maze_trials(
    nwb: NWBFile,
    timeline: dict[str, np.ndarray],
    conds: dict[str, np.ndarray],
    cond_of_trial: np.ndarray,
    splits: np.ndarray,
) -> None:
    c = cond_of_trial
    values = {
        "start_time": timeline["start"] / 1000.0,
        "stop_time": timeline["stop"] / 1000.0,
        "move_onset_time": timeline["onset"] / 1000.0,
        "go_cue_time": timeline["go_cue"] / 1000.0,
        "target_on_time": timeline["target_on"] / 1000.0,
        "trial_type": conds["trial_type"][c],
        "trial_version": conds["trial_version"][c],
        "maze_id": 1000 + conds["trial_type"][c],
        "delay": timeline["delay"],
        "rt": timeline["rt"],
        "num_targets": np.array([len(conds["targets"][k]) for k in c]),
        "num_barriers": np.array([len(conds["barriers"][k]) for k in c]),
        "active_target": conds["active_target"][c],
        "success": np.ones(len(c), dtype=bool),
        "split": list(splits),
        "target_pos": [conds["targets"][k] for k in c],
        "barrier_pos": [conds["barriers"][k] for k in c],
    }
    nwb.trials = _trial_table({name: (MAZE_TRIAL_COLUMNS[name], v) for name, v in values.items()})


def _fill_gaps(
    segments: list[tuple[int, int]], paths: list[tuple[np.ndarray, ...]]
) -> list[np.ndarray]:
    """Signals on the whole grid from 0 ms to the last segment end, NaN outside the segments."""
    n_ms = segments[-1][1]
    full = [np.full((n_ms, *a.shape[1:]), np.nan) for a in paths[0]]
    for (start, stop), arrays in zip(segments, paths, strict=True):
        for dest, src in zip(full, arrays, strict=True):
            dest[start:stop] = src
    return full


def _grid_timestamps(n_ms: int) -> np.ndarray:
    """Timestamps of the 1 ms grid from 0, exactly the values nlb_tools builds."""
    return np.arange(n_ms) / 1000.0


def _add_behavior(
    nwb: NWBFile,
    position: dict,
    linked: list[tuple[type[TimeSeries], dict]],
) -> None:
    """The "behavior" module: `position` (a SpatialSeries on the 1 ms grid from 0) and the
    `linked` series, which share its timestamps; all in mm (declared m, conversion 1e-3)."""
    module = nwb.create_processing_module("behavior", "Processed behavioral data")
    grid = _grid_timestamps(len(position["data"]))
    reference = SpatialSeries(**position, timestamps=grid, conversion=1e-3)
    module.add(reference)
    for kind, fields in linked:
        module.add(kind(**fields, timestamps=reference, conversion=1e-3))


def _add_maze_behavior(nwb: NWBFile, hand: np.ndarray, vel: np.ndarray, eye: np.ndarray) -> None:
    xy = "in mm. First column x, second column y"
    _add_behavior(
        nwb,
        {
            "name": "hand_pos",
            "data": hand,
            "reference_frame": "centre of the workspace",
            "description": f"Monkey hand position {xy}",
        },
        [
            (
                SpatialSeries,
                {
                    "name": "cursor_pos",
                    "data": hand.copy(),
                    "reference_frame": "centre of the screen",
                    "description": f"Cursor position {xy}",
                },
            ),
            (
                SpatialSeries,
                {
                    "name": "eye_pos",
                    "data": eye,
                    "reference_frame": "centre of the screen",
                    "description": f"Monkey eye position {xy}",
                },
            ),
            (
                TimeSeries,
                {
                    "name": "hand_vel",
                    "data": vel,
                    "unit": "m/s",
                    "description": "Monkey hand velocity in mm/s, calculated "
                    "from monkey hand position. First column x, second column y",
                },
            ),
        ],
    )


def _add_rtt_behavior(
    nwb: NWBFile, finger: np.ndarray, vel: np.ndarray, target: np.ndarray
) -> None:
    xy_mm = "in Cartesian coordinates (x, y) in mm"
    _add_behavior(
        nwb,
        {
            "name": "finger_pos",
            "data": finger,
            "reference_frame": "hand tracker origin",
            "description": "The position of the working fingertip in Cartesian "
            "coordinates (x, y, z) in mm",
        },
        [
            (
                SpatialSeries,
                {
                    "name": "cursor_pos",
                    "data": finger[:, :2].copy(),
                    "reference_frame": "centre of the screen",
                    "description": f"The position of the cursor {xy_mm}",
                },
            ),
            (
                TimeSeries,
                {
                    "name": "finger_vel",
                    "data": vel,
                    "unit": "m/s",
                    "description": "The x and y velocity of the finger in "
                    "mm/s. Calculated offline from finger position",
                },
            ),
            (
                SpatialSeries,
                {
                    "name": "target_pos",
                    "data": target,
                    "reference_frame": "centre of the screen",
                    "description": f"The position of the target {xy_mm}",
                },
            ),
        ],
    )


def _write(nwb: NWBFile, path: str | os.PathLike, truth: dict[str, np.ndarray]) -> None:
    """Write the NWB file and its truth atomically; neither appears unless both are complete."""
    with atomic_path(path) as tmp_nwb, atomic_path(truth_path(path)) as tmp_truth:
        with NWBHDF5IO(str(tmp_nwb), "w") as io:
            io.write(nwb)
        np.savez(tmp_truth, **truth)


def true_counts(
    truth: Mapping[str, np.ndarray], trial_ids: np.ndarray, unit_ids: np.ndarray, bin_s: float
) -> np.ndarray:
    """The simulator's true rates as expected counts per bin (trials, time, units), in the order
    of `trial_ids` and `unit_ids` (e.g. a tidy file's trials and channels)."""
    if not np.isclose(float(truth["bin_ms"]) / 1e3, bin_s):
        raise ValueError(f"truth bins are {float(truth['bin_ms'])} ms, the data's {bin_s * 1e3} ms")
    trial_row = {int(t): i for i, t in enumerate(truth["trial_id"])}
    unit_col = {int(u): i for i, u in enumerate(truth["unit_id"])}
    missing = sorted({int(t) for t in trial_ids} - set(trial_row))
    missing_units = sorted({int(u) for u in unit_ids} - set(unit_col))
    if missing or missing_units:
        raise ValueError(f"truth lacks trials {missing[:5]} / units {missing_units[:5]}")
    rates = truth["rates_hz"][[trial_row[int(t)] for t in trial_ids]]
    return (rates[:, :, [unit_col[int(u)] for u in unit_ids]] * bin_s).astype(np.float32)
