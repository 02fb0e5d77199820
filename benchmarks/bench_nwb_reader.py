"""Time and peak memory of `read_nlb_nwb` against nlb_tools on an MC_Maze-sized simulated file.

    python benchmarks/bench_nwb_reader.py [--trials 2295] [--units 182] [--heldout 45]
                                          [--workdir DIR] [--keep]

The file is written by `write_mc_maze_like` (default: the size of DANDI 000128, 182 units of
which 45 held out, 2295 trials, 108 conditions). Each reader runs once in its own subprocess, from
opening the file to the NLB "train" and "val" tensors with behaviour:

* ours:      read_nlb_nwb(path, "mc_maze")
* nlb_tools: NWBDataset(path) -> resample(5) -> make_train_input_tensors(train), (val)

Wall time is measured inside the child after its imports. Peak memory is the child's high-water
resident set size (VmHWM in /proc/self/status; getrusage's ru_maxrss would carry the parent's
peak across exec), shown in total and above the resident size right after imports.
The outputs are compared afterwards: spikes must be identical, behaviour equal to float32 rounding.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neurodiff.io import read_npz, write_npz

SPLITS = ("train", "val")
IMPORTS = {"ours": "neurodiff.data.nwb", "nlb_tools": "nlb_tools.make_tensors"}


def rss_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: current, VmHWM: peak) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} (this benchmark needs Linux)")


def run_ours(path: Path) -> dict[str, np.ndarray]:
    """Train/val spikes and behaviour from our reader, in NLB order (held-in, then held-out)."""
    from neurodiff.data.nwb import read_nlb_nwb

    ds = read_nlb_nwb(path, "mc_maze")
    out = {}
    for split in SPLITS:
        rows = ds.conditions["nlb_split"] == split
        out[f"{split}_spikes"] = ds.signals[rows]
        out[f"{split}_behavior"] = ds.behavior[rows]
    return out


def run_nlb_tools(path: Path) -> dict[str, np.ndarray]:
    """The same arrays from nlb_tools 0.0.4."""
    from nlb_tools.make_tensors import make_train_input_tensors
    from nlb_tools.nwb_interface import NWBDataset

    dataset = NWBDataset(str(path))
    dataset.resample(5)
    out = {}
    for split in SPLITS:
        tensors = make_train_input_tensors(dataset, "mc_maze", trial_split=split,
                                           include_behavior=True, save_file=False)
        out[f"{split}_spikes"] = np.concatenate(
            [tensors["train_spikes_heldin"], tensors["train_spikes_heldout"]], axis=2)
        out[f"{split}_behavior"] = tensors["train_behavior"]
    return out


def child(reader: str, path: Path, out_path: Path) -> None:
    """Run one reader, print timing/memory as JSON, save its arrays for comparison."""
    import importlib
    import logging

    logging.disable(logging.WARNING)
    importlib.import_module(IMPORTS[reader])
    runner = {"ours": run_ours, "nlb_tools": run_nlb_tools}[reader]
    rss_after_imports = rss_mb("VmRSS")
    start = time.perf_counter()
    arrays = runner(path)
    seconds = time.perf_counter() - start
    peak = rss_mb("VmHWM")
    write_npz(out_path, arrays)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak,
                      "above_imports_mb": peak - rss_after_imports}))


def measure(reader: str, path: Path, out_path: Path) -> dict | None:
    """Run a reader in a fresh interpreter; None if it cannot run (e.g. nlb_tools missing)."""
    probe = subprocess.run([sys.executable, "-c", f"import {IMPORTS[reader]}"],
                           capture_output=True, text=True)
    if probe.returncode:
        print(f"{reader}: skipped ({probe.stderr.strip().splitlines()[-1]})")
        return None
    done = subprocess.run([sys.executable, __file__, "--child", reader, "--path", str(path),
                           "--out", str(out_path)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{reader} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(ours: Path, theirs: Path) -> str:
    """One line saying whether both readers produced the same tensors."""
    a, b = read_npz(ours), read_npz(theirs)
    same_spikes = all(np.array_equal(a[f"{s}_spikes"], b[f"{s}_spikes"]) for s in SPLITS)
    diff = max(float(np.nanmax(np.abs(a[f"{s}_behavior"] - b[f"{s}_behavior"]))) for s in SPLITS)
    shapes = ", ".join(f"{s} {a[f'{s}_spikes'].shape}" for s in SPLITS)
    return f"spikes identical: {same_spikes}; behaviour max |diff| {diff:.2e} mm/s; {shapes}"


def main() -> None:
    """Write the file, measure both readers, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2295)
    parser.add_argument("--units", type=int, default=182)
    parser.add_argument("--heldout", type=int, default=45)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--child", choices=["ours", "nlb_tools"], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.out)
        return

    from neurodiff.data.simulate.nlb_like import write_mc_maze_like

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_nwb_"))
    path = workdir / f"mc_maze_like_{args.trials}x{args.units}.nwb"
    start = time.perf_counter()
    write_mc_maze_like(path, n_trials=args.trials, n_units=args.units, n_heldout=args.heldout,
                       n_conditions=108, seed=0)
    print(f"wrote {path.name}: {path.stat().st_size / 1e6:.0f} MB in "
          f"{time.perf_counter() - start:.1f} s ({args.trials} trials, {args.units} units)")
    results = {r: measure(r, path, workdir / f"{r}.npz") for r in ("ours", "nlb_tools")}
    print("\n| reader | wall time (s) | peak RSS (MB) | RSS above imports (MB) |\n"
          "|---|---|---|---|")
    for reader, res in results.items():
        if res:
            print(f"| {reader} | {res['seconds']:.2f} | {res['peak_rss_mb']:.0f} | "
                  f"{res['above_imports_mb']:.0f} |")
    if all(results.values()):
        print("\n" + compare(workdir / "ours.npz", workdir / "nlb_tools.npz"))
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
