"""Provenance sidecars: who made an output, from what data, with which code, seeds and device.

Every job writes a `*.provenance.json` beside its outputs (one per figure/table stem, shared
by its png+pdf or csv+md; `<output>.provenance.json` for anything else). A sidecar holds the
job's rule, wildcards, preset, config hash, git commit, package versions, seeds, device, host,
timestamps, wall time and output sha256, plus the dataset checksums and upstream jobs reached
through its inputs: tidy dataset files are read directly, any other input contributes the
datasets and jobs listed in its own sidecar. So a figure drawn from samples of a trained model
names the datasets behind it and the training job (device, seeds, wall time) that made them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py

from neurodiff.config import config_hash
from neurodiff.io import sha256_file, write_json_atomic

SIDECAR_SUFFIX = ".provenance.json"
STEM_SHARED_SUFFIXES = (".png", ".pdf", ".csv", ".md", ".gif")
PACKAGES = (
    "neurodiff",
    "torch",
    "numpy",
    "scipy",
    "h5py",
    "pynwb",
    "diffusers",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "snakemake",
)
SUMMARY_KEYS = ("rule", "wildcards", "device", "seeds", "wall_time_s")


class ProvenanceError(ValueError):
    """An upstream provenance sidecar, or an input file it must read, cannot be read."""


def sidecar_path(output: str | os.PathLike) -> Path:
    """Provenance file of an output: `<stem>.provenance.json` for figures/tables, else beside."""
    path = Path(output)
    if path.suffix in STEM_SHARED_SUFFIXES:
        return path.with_name(path.stem + SIDECAR_SUFFIX)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def as_mapping(named: Any) -> dict[str, Any]:
    """Names and values of a Snakemake Namedlist, a mapping or a namespace, as a dict."""
    if named is None:
        return {}
    if hasattr(named, "items"):
        return dict(named.items())
    return dict(vars(named))


def display_path(path: str | os.PathLike) -> str:
    """A path as recorded in sidecars: relative to the working directory when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def git_state(workdir: str | os.PathLike | None = None) -> dict[str, Any]:
    """{commit, dirty} of the git checkout at `workdir`; "unknown" and the reason if unavailable."""
    try:
        commit = _git(["rev-parse", "HEAD"], workdir)
        status = _git(["status", "--porcelain", "--untracked-files=no"], workdir)
    except (OSError, subprocess.SubprocessError, RuntimeError) as err:
        return {"commit": "unknown", "dirty": "unknown", "reason": str(err)}
    return {"commit": commit, "dirty": bool(status)}


def _git(args: list[str], workdir: str | os.PathLike | None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=workdir, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()
        raise RuntimeError(f"git {' '.join(args)} failed: {message[0] if message else '?'}")
    return result.stdout.strip()


def package_versions() -> dict[str, str]:
    """Versions of python and the packages results depend on ("not installed" if missing)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def find_seeds(wildcards: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The `seed` wildcard and every params entry (searched recursively) whose key names a seed."""
    seeds = {f"wildcards.{key}": value for key, value in wildcards.items() if key == "seed"}
    _collect_seeds(params, "params", seeds)
    return seeds


def _collect_seeds(value: Any, where: str, seeds: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if "seed" in str(key).lower():
                seeds[f"{where}.{key}"] = item
            else:
                _collect_seeds(item, f"{where}.{key}", seeds)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _collect_seeds(item, f"{where}[{index}]", seeds)


def job_device(params: Mapping[str, Any]) -> dict[str, str]:
    """{device[, device_name]}: `select_device(params["device"])` if the rule has one, else cpu."""
    if "device" not in params:
        return {"device": "cpu"}
    import torch  # only jobs that name a device pay for importing torch

    from neurodiff.train import select_device

    try:
        device = select_device(str(params["device"]))
    except RuntimeError as err:
        return {"device": f"unavailable ({err})"}
    if device.type != "cuda":
        return {"device": str(device)}
    return {"device": str(device), "device_name": torch.cuda.get_device_name(device)}


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """A provenance sidecar's record; ProvenanceError naming the file if it is not valid JSON."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ProvenanceError(f"{path}: unreadable provenance sidecar ({err})") from err
    if not isinstance(record, dict):
        raise ProvenanceError(f"{path}: provenance sidecar must hold a JSON object")
    return record


def tidy_meta(path: str | os.PathLike) -> dict[str, Any] | None:
    """The `meta` attribute of a tidy dataset file, or None if `path` is not one (cheap)."""
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return None
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("meta")
    except (OSError, KeyError, RuntimeError) as err:  # HDF5 signature, unreadable: truncated?
        raise ProvenanceError(
            f"{path}: HDF5 file cannot be opened ({err}); it is probably "
            f"truncated or corrupt: delete it and fetch, stage or rebuild "
            f"it"
        ) from err
    try:
        meta = json.loads(raw) if raw is not None else None
    except (TypeError, json.JSONDecodeError):
        return None
    if isinstance(meta, dict) and "name" in meta and "format_version" in meta:
        return meta
    return None


def dataset_entry(path: str | os.PathLike, meta: Mapping[str, Any], sha256: str) -> dict[str, Any]:
    """A dataset checksum record: the tidy file, its sha256, its source and source files."""
    return {
        "file": display_path(path),
        "sha256": sha256,
        "source": meta.get("source", "unknown"),
        "source_files": meta.get("source_files", {}),
    }


def job_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a job record carried into downstream sidecars' `upstream_jobs`."""
    return {key: record.get(key) for key in SUMMARY_KEYS}


def input_lineage(inputs: Iterable[str | os.PathLike]) -> dict[str, Any]:
    """Datasets and upstream jobs behind a job's inputs, followed through the inputs' sidecars."""
    lineage: dict[str, Any] = {"datasets": {}, "upstream_jobs": [], "inputs_without_provenance": {}}
    for item in inputs:
        path = Path(item)
        sidecar = _producer_record(path)
        meta = tidy_meta(path)
        if meta is not None:
            sha = (sidecar or {}).get("outputs", {}).get(display_path(path)) or sha256_file(path)
            _add_dataset(lineage["datasets"], str(meta["name"]), dataset_entry(path, meta, sha))
        elif sidecar is not None:
            for name, entry in sidecar.get("datasets", {}).items():
                _add_dataset(lineage["datasets"], name, entry)
        if sidecar is not None:
            for job in [*sidecar.get("upstream_jobs", []), job_summary(sidecar)]:
                _add_job(lineage["upstream_jobs"], job)
        elif meta is None:
            lineage["inputs_without_provenance"][display_path(path)] = _missing_reason(path)
    return lineage


def _producer_record(path: Path) -> dict[str, Any] | None:
    """The record of the job that wrote `path`: its sidecar, if that lists `path` as an output.

    Sidecars are deleted when a job starts and written only when it succeeds, so one that
    lists the file belongs to the run that made it (file times cannot tell: Snakemake
    touches outputs after a job).
    """
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        return None
    record = read_sidecar(sidecar)
    return record if display_path(path) in record.get("outputs", {}) else None


def _missing_reason(path: Path) -> str:
    if not path.exists():
        return "input does not exist"
    if sidecar_path(path).exists():
        return "its sidecar does not list it as an output"
    return "no provenance sidecar"


def _add_dataset(datasets: dict[str, Any], name: str, entry: Mapping[str, Any]) -> None:
    known = datasets.get(name)
    if known is not None and known.get("sha256") != entry.get("sha256"):
        name = f"{name} ({entry.get('file')})"
    datasets[name] = dict(entry)


def _add_job(jobs: list[dict[str, Any]], job: Mapping[str, Any]) -> None:
    key = (job.get("rule"), json.dumps(job.get("wildcards"), sort_keys=True, default=str))
    known = {
        (j.get("rule"), json.dumps(j.get("wildcards"), sort_keys=True, default=str)) for j in jobs
    }
    if key not in known:
        jobs.append(dict(job))


def output_checksums(outputs: Iterable[str | os.PathLike]) -> dict[str, str | None]:
    """{path: sha256} of output files; directories map to None, missing files to "missing"."""
    checksums: dict[str, str | None] = {}
    for item in outputs:
        path = Path(item)
        if path.is_dir():
            checksums[display_path(path)] = None
        elif path.is_file():
            checksums[display_path(path)] = sha256_file(path)
        else:
            checksums[display_path(path)] = "missing"
    return checksums


def job_record(
    *,
    rule: str,
    wildcards: Mapping[str, Any],
    params: Mapping[str, Any],
    config: Mapping[str, Any],
    lineage: Mapping[str, Any],
    outputs: Iterable[str | os.PathLike],
    started: datetime,
    finished: datetime,
) -> dict[str, Any]:
    """The provenance record of one finished job (see the module docstring for the keys)."""
    outputs = list(outputs)
    datasets = dict(lineage.get("datasets", {}))
    checksums = output_checksums(outputs)
    for path in outputs:
        meta = tidy_meta(path)
        if meta is not None:
            _add_dataset(
                datasets,
                str(meta["name"]),
                dataset_entry(path, meta, checksums[display_path(path)]),
            )
    return {
        "rule": rule,
        "wildcards": dict(wildcards),
        "preset": config.get("preset", "unknown"),
        "config_hash": config_hash(config),
        "git": git_state(),
        "packages": package_versions(),
        "seeds": find_seeds(wildcards, params),
        **job_device(params),
        "host": platform.node(),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "wall_time_s": round((finished - started).total_seconds(), 3),
        "outputs": checksums,
        "datasets": datasets,
        "upstream_jobs": list(lineage.get("upstream_jobs", [])),
        "inputs_without_provenance": dict(lineage.get("inputs_without_provenance", {})),
    }


def remove_sidecars(outputs: Iterable[str | os.PathLike]) -> None:
    """Delete the outputs' sidecars left by an earlier run, so a failed rerun leaves none."""
    for sidecar in {sidecar_path(path) for path in outputs}:
        sidecar.unlink(missing_ok=True)


def write_sidecars(record: Mapping[str, Any], outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Write the record beside the outputs, one sidecar per stem; each names the files it covers."""
    covered: dict[Path, list[str]] = {}
    for path in outputs:
        covered.setdefault(sidecar_path(path), []).append(display_path(path))
    for sidecar, files in covered.items():
        write_json_atomic(sidecar, {**record, "files": files})
    return list(covered)
