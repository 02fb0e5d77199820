"""Whole-process time and peak memory of the NWB reader, a numpy floor and nlb_tools, side by side.

    python benchmarks/bench_nwb_reader.py [--trials 2295] [--units 182] [--heldout 45]
                                          [--spikes 23.3e6] [--rounds 5] [--nlb-tools-runs 2]
                                          [--workdir DIR]

The file is written by `write_mc_maze_like` (default: the size of DANDI 000128, 182 units of
which 45 held out, 2295 trials, 108 conditions) into --workdir, and reused when it is already
there. The simulator's rates give fewer spikes than the real file's 23.3 M, so a copy is brought
to --spikes spikes by adding jittered copies (+-2.5 ms) of randomly drawn simulated spikes of the
same unit (--spikes 0 keeps the simulator's spikes). Each reader runs in a fresh interpreter, from
start-up to the NLB "train" and "val" spike tensors with behaviour:

* floor:     the numpy floor written here: read every spike time, bincount each unit on the 5 ms
             grid (spikes on the 1 ms grid as nlb_tools rounds them), gather the trial windows,
             read hand_vel only in the windows (every 5th sample, no filter, no obs_intervals or
             timestamp checks) - a lower bound, not an nlb_tools-exact reader;
* ours:      neurodiff.data.nwb.read_nlb_nwb(path, "mc_maze");
* nlb_tools: NWBDataset(path) -> resample(5) -> make_train_input_tensors(train), (val)
             (about 11 GB on the full-size file: it runs at most --nlb-tools-runs times).

Wall time is the parent's clock from launching the child to the child finishing its tensors
(interpreter start and imports included, saving the arrays for the comparison excluded). Peak
memory is the child's high-water resident set (VmHWM of /proc/self/status). The readers run
interleaved in rounds (floor, ours, nlb_tools while its runs last), and medians are reported,
because the machine may be shared. The 1024x1024 float32 matmul rate is printed first, so that
numbers from different machines or loads can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPLITS = ("train", "val")
READERS = ("floor", "ours", "nlb_tools")
WINDOW_MS, LAG_MS, BIN_MS = (-250, 450), 100, 5


def rss_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: current, VmHWM: peak) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} (this benchmark needs Linux)")


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Median GFLOP/s of an n x n float32 matrix product (2 n^3 flops)."""
    rng = np.random.default_rng(0)
    a, b = (
        rng.standard_normal((n, n), dtype=np.float32),
        rng.standard_normal((n, n), dtype=np.float32),
    )
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def densify_spikes(source: Path, target: Path, n_spikes: int, seed: int = 0) -> None:
    """Copy an NWB file, adding jittered copies of its spikes until it holds ``n_spikes``."""
    import h5py

    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    rng = np.random.default_rng(seed)
    with h5py.File(tmp, "r+") as f:
        times, index = f["units/spike_times"], f["units/spike_times_index"]
        ends = index[()].astype(np.int64)
        end_s = float(f["units/obs_intervals"][()].max())
        trains = np.split(times[()], ends[:-1])
        extra = max(n_spikes - int(ends[-1]), 0)
        share = rng.multinomial(extra, np.diff(np.concatenate([[0], ends])) / ends[-1])
        dense = []
        for train, k in zip(trains, share.tolist(), strict=True):
            added = rng.choice(train, k) + rng.uniform(-0.0025, 0.0025, k) if train.size else []
            dense.append(np.sort(np.clip(np.concatenate([train, added]), 0.0, end_s - 1e-3)))
        attrs = {n: dict(d.attrs) for n, d in (("spike_times", times), ("index", index))}
        dtypes = times.dtype, index.dtype
        del f["units/spike_times"], f["units/spike_times_index"]
        new_times = f["units"].create_dataset(
            "spike_times", data=np.concatenate(dense), dtype=dtypes[0]
        )
        new_index = f["units"].create_dataset(
            "spike_times_index", data=np.cumsum([d.size for d in dense]), dtype=dtypes[1]
        )
        for dset, name in ((new_times, "spike_times"), (new_index, "index")):
            for key, value in attrs[name].items():
                dset.attrs[key] = value
        new_index.attrs["target"] = new_times.ref
    os.replace(tmp, target)


def run_floor(path: Path) -> dict[str, np.ndarray]:
    """The numpy floor: plain binning of the MC_Maze windows, no checks, no filter."""
    import h5py

    with h5py.File(path, "r") as f:
        trials = f["intervals/trials"]
        split = trials["split"].asstr()[()]
        onset = trials["move_onset_time"][()]
        heldout = f["units/heldout"][()].astype(bool)
        ends = f["units/spike_times_index"][()]
        times = f["units/spike_times"][()]
        n_ms = int(round(f["units/obs_intervals"][()].max() * 1000))
        keep = np.isin(split, SPLITS)
        n_bins = (WINDOW_MS[1] - WINDOW_MS[0]) // BIN_MS
        first = np.ceil(np.round(onset[keep] * 1000 + WINDOW_MS[0], 6) / BIN_MS).astype(np.int64)
        window = first[:, None] + np.arange(n_bins)
        order = np.concatenate([np.flatnonzero(~heldout), np.flatnonzero(heldout)])
        by_unit = np.empty((order.size, first.size, n_bins), dtype=np.uint8)
        starts = np.concatenate([[0], ends[:-1]])
        for row, unit in enumerate(order):
            samples = np.round(times[starts[unit] : ends[unit]] * 1000, 6).astype(np.int64)
            by_unit[row] = np.bincount(samples // BIN_MS, minlength=-(-n_ms // BIN_MS))[window]
        spikes = np.ascontiguousarray(by_unit.transpose(1, 2, 0))
        vel = f["processing/behavior/hand_vel"]
        t0_ms = int(round(vel["timestamps"][0] * 1000))
        data = vel["data"]
        behavior = np.empty((first.size, n_bins, data.shape[1]))
        for i, lo in enumerate((first * BIN_MS + LAG_MS - t0_ms).tolist()):
            behavior[i] = data[lo : lo + n_bins * BIN_MS][::BIN_MS]
    return {
        f"{s}_{k}": a[split[keep] == s]
        for s in SPLITS
        for k, a in (("spikes", spikes), ("behavior", behavior))
    }


def run_ours(path: Path) -> dict[str, np.ndarray]:
    """Train/val spikes and behaviour from our reader, in NLB order (held-in, then held-out)."""
    from neurodiff.data.nwb import read_nlb_nwb

    ds = read_nlb_nwb(path, "mc_maze")
    return {
        f"{s}_{k}": a[ds.conditions["nlb_split"] == s]
        for s in SPLITS
        for k, a in (("spikes", ds.signals), ("behavior", ds.behavior))
    }


def run_nlb_tools(path: Path) -> dict[str, np.ndarray]:
    """The same arrays from nlb_tools 0.0.4."""
    from nlb_tools.make_tensors import make_train_input_tensors
    from nlb_tools.nwb_interface import NWBDataset

    dataset = NWBDataset(str(path))
    dataset.resample(5)
    out = {}
    for split in SPLITS:
        tensors = make_train_input_tensors(
            dataset, "mc_maze", trial_split=split, include_behavior=True, save_file=False
        )
        out[f"{split}_spikes"] = np.concatenate(
            [tensors["train_spikes_heldin"], tensors["train_spikes_heldout"]], axis=2
        )
        out[f"{split}_behavior"] = tensors["train_behavior"]
    return out


def child(reader: str, path: Path, out_path: Path | None) -> None:
    """Run one reader; print its finish time and peak memory as JSON; save its arrays if asked."""
    import logging

    logging.disable(logging.WARNING)
    arrays = {"floor": run_floor, "ours": run_ours, "nlb_tools": run_nlb_tools}[reader](path)
    done = time.time()
    peak = rss_mb("VmHWM")
    if out_path is not None:
        np.savez(out_path, **arrays)
    print(json.dumps({"done": done, "peak_rss_mb": peak}))


def measure(reader: str, path: Path, out_path: Path | None) -> dict:
    """Run a reader in a fresh interpreter: whole-process seconds and peak RSS."""
    start = time.time()
    done = subprocess.run(
        [sys.executable, __file__, "--child", reader, "--path", str(path)]
        + (["--out", str(out_path)] if out_path else []),
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if done.returncode:
        raise RuntimeError(f"{reader} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": result["done"] - start, "peak_rss_mb": result["peak_rss_mb"]}


def compare(a_path: Path, b_path: Path) -> str:
    """Whether two readers produced the same spike tensors, and their behaviour difference."""
    a, b = np.load(a_path), np.load(b_path)
    same = all(
        a[f"{s}_spikes"].shape == b[f"{s}_spikes"].shape
        and np.array_equal(a[f"{s}_spikes"], b[f"{s}_spikes"])
        for s in SPLITS
    )
    diff = max(
        float(np.nanmax(np.abs(a[f"{s}_behavior"] - b[f"{s}_behavior"])))
        if a[f"{s}_behavior"].shape == b[f"{s}_behavior"].shape
        else np.inf
        for s in SPLITS
    )
    return f"spikes identical: {same}; behaviour max |diff| {diff:.2e} mm/s"


def nlb_tools_available() -> bool:
    """True when nlb_tools imports in a fresh interpreter."""
    probe = subprocess.run(
        [sys.executable, "-c", "import nlb_tools.make_tensors"], capture_output=True, text=True
    )
    if probe.returncode:
        print(f"nlb_tools: skipped ({probe.stderr.strip().splitlines()[-1]})")
    return probe.returncode == 0


def main() -> None:
    """Write (or reuse) the file, run the readers interleaved, print medians and agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2295)
    parser.add_argument("--units", type=int, default=182)
    parser.add_argument("--heldout", type=int, default=45)
    parser.add_argument(
        "--spikes", type=float, default=23.3e6, help="spikes in the file (0: the simulator's)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="runs of floor and ours")
    parser.add_argument("--nlb-tools-runs", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--workdir", type=Path, default=None, help="kept; the file is reused")
    parser.add_argument("--child", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.out)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_nwb_"))
    workdir.mkdir(parents=True, exist_ok=True)
    simulated = workdir / f"mc_maze_like_{args.trials}x{args.units}.nwb"
    if not simulated.exists():
        from neurodiff.data.simulate.nlb_like import write_mc_maze_like

        start = time.perf_counter()
        write_mc_maze_like(
            simulated,
            n_trials=args.trials,
            n_units=args.units,
            n_heldout=args.heldout,
            n_conditions=108,
            seed=0,
        )
        print(f"wrote {simulated.name} in {time.perf_counter() - start:.1f} s")
    path = simulated
    if args.spikes:
        path = simulated.with_name(f"{simulated.stem}_{args.spikes / 1e6:.1f}M_spikes.nwb")
        if not path.exists():
            densify_spikes(simulated, path, int(args.spikes))
    import h5py

    with h5py.File(path, "r") as f:
        n_spikes = f["units/spike_times"].shape[0]
    print(
        f"file {path}: {path.stat().st_size / 2**20:.0f} MiB, {args.trials} trials, "
        f"{args.units} units, {n_spikes / 1e6:.2f} M spikes"
    )
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"1024^2 float32 matmul: {matmul_gflops():.1f} GFLOP/s (OMP_NUM_THREADS={threads}); "
        f"load average before the runs {os.getloadavg()[0]:.2f}"
    )

    nlb_runs = args.nlb_tools_runs if nlb_tools_available() else 0
    times: dict[str, list[dict]] = {r: [] for r in READERS}
    for round_ in range(max(args.rounds, nlb_runs)):
        for reader in READERS:
            if (reader == "nlb_tools" and round_ >= nlb_runs) or (
                reader != "nlb_tools" and round_ >= args.rounds
            ):
                continue
            out = workdir / f"{reader}.npz" if not times[reader] else None
            times[reader].append(measure(reader, path, out))
            print(
                f"round {round_ + 1} {reader}: {times[reader][-1]['seconds']:.2f} s, "
                f"{times[reader][-1]['peak_rss_mb']:.0f} MiB",
                flush=True,
            )

    floor = {k: statistics.median(r[k] for r in times["floor"]) for k in ("seconds", "peak_rss_mb")}
    print(
        "\n| reader | runs | wall time, median (s) | peak RSS, median (MiB) | vs floor (time, "
        "memory) |\n|---|---|---|---|---|"
    )
    for reader, runs in times.items():
        if not runs:
            continue
        wall = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_rss_mb"] for r in runs)
        print(
            f"| {reader} | {len(runs)} | {wall:.2f} (min {min(r['seconds'] for r in runs):.2f}"
            f") | {peak:.0f} | {wall / floor['seconds']:.2f}x, "
            f"{peak / floor['peak_rss_mb']:.2f}x |"
        )
    print(f"\nours vs floor: {compare(workdir / 'ours.npz', workdir / 'floor.npz')}")
    if times["nlb_tools"]:
        print(f"ours vs nlb_tools: {compare(workdir / 'ours.npz', workdir / 'nlb_tools.npz')}")
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
