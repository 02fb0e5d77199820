"""The tidy array file: one HDF5 file per dataset that every model reads.

Layout (all trial-major; T = time bins, N = channels):

    /signals            float32 (trials, T, N)   spike counts or continuous signals; counts may
                                                 be uint8/uint16 (COUNT_DTYPES): read_tidy returns
                                                 them as float32 unless float_signals=False
    /mask               bool    (trials, T)      True where a bin is observed (variable length)
    /split              str     (trials,)        "train" | "val" | "test"
    /behavior           float32 (trials, T, K)   optional; attrs["names"] lists the K columns
    /video              uint8   (trials, T, V, H, W) optional behaviour video
    /conditions/<name>  (trials,)                per-trial labels (trial_type, reach_angle, ...)
    /channels/<name>    (N,)                     per-channel info (heldout, region, ...)
    /truth/<name>       any shape                ground truth where known (latents, rates, ...)
    attrs["meta"]       JSON                     name, signal_kind, bin_size_s, source, checksums,
                                                 preset
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from neurodiff.io import atomic_path

SPLITS = ("train", "val", "test")
SIGNAL_KINDS = ("counts", "continuous")
COUNT_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))  # integer storage allowed for counts
FORMAT_VERSION = 1
FINITE_CHECK_ROWS = 256  # trials checked per step by validate (bounds its temporary memory)


class TidyFormatError(ValueError):
    """A tidy dataset file or object breaks the layout contract."""


def open_hdf5(
    path: Path, what: str, error: type[Exception], kind: str = "HDF5", advice: str = ""
) -> h5py.File:
    """Open an HDF5 file read-only; FileNotFoundError names `what`, `error` an unreadable file.

    The unreadable-file message reads "<path>: not a readable <kind> file (<cause>)<advice>".
    """
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise error(f"{path}: not a readable {kind} file ({err}){advice}") from err


@dataclass
class TidyDataset:
    """Arrays of one dataset in the shared layout, plus metadata."""

    name: str
    signals: np.ndarray
    split: np.ndarray
    bin_size_s: float
    signal_kind: str = "counts"
    mask: np.ndarray | None = None
    behavior: np.ndarray | None = None
    behavior_names: list[str] = field(default_factory=list)
    video: np.ndarray | None = None
    conditions: dict[str, np.ndarray] = field(default_factory=dict)
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        signals = np.asarray(self.signals)
        keep_integers = self.signal_kind == "counts" and signals.dtype in COUNT_DTYPES
        self.signals = signals if keep_integers else signals.astype(np.float32, copy=False)
        self.split = np.asarray(self.split).astype(str)
        if self.mask is None:
            self.mask = np.ones(self.signals.shape[:2], dtype=bool)
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.behavior is not None:
            self.behavior = np.asarray(self.behavior, dtype=np.float32)
        self.validate()

    @property
    def n_trials(self) -> int:
        """Number of trials."""
        return int(self.signals.shape[0])

    @property
    def n_bins(self) -> int:
        """Number of time bins (the padded length when trials vary in length)."""
        return int(self.signals.shape[1])

    @property
    def n_channels(self) -> int:
        """Number of channels (neurons or components)."""
        return int(self.signals.shape[2])

    def lengths(self) -> np.ndarray:
        """Observed bins per trial."""
        return self.mask.sum(axis=1)

    def indices(self, split: str) -> np.ndarray:
        """Trial indices of one split."""
        if split not in SPLITS:
            raise TidyFormatError(f"{self.name}: unknown split {split!r}; allowed: {SPLITS}")
        return np.flatnonzero(self.split == split)

    def validate(self, where: str | None = None) -> None:
        """Raise TidyFormatError naming the key if shapes or values break the contract."""
        src = where or self.name

        def fail(key: str, msg: str) -> None:
            raise TidyFormatError(f"{src}: '{key}' {msg}")

        if self.signals.ndim != 3:
            fail("signals", f"must be (trials, time, channels), got shape {self.signals.shape}")
        n, t, c = self.signals.shape
        if self.signal_kind not in SIGNAL_KINDS:
            fail("meta.signal_kind", f"is {self.signal_kind!r}; allowed: {SIGNAL_KINDS}")
        if not np.isfinite(self.bin_size_s) or self.bin_size_s <= 0:
            fail("meta.bin_size_s", f"must be a positive number of seconds, got {self.bin_size_s}")
        if self.split.shape != (n,):
            fail("split", f"must have shape ({n},), got {self.split.shape}")
        bad = sorted(set(self.split.tolist()) - set(SPLITS))
        if bad:
            fail("split", f"has values {bad}; allowed: {list(SPLITS)}")
        if self.mask.shape != (n, t):
            fail("mask", f"must have shape ({n}, {t}), got {self.mask.shape}")
        if self.signals.dtype.kind in "ui":
            if self.signal_kind != "counts":
                fail("signals", f"is {self.signals.dtype} but only counts may be integers")
        else:
            for first in range(0, n, FINITE_CHECK_ROWS):  # chunked: no copy of the whole tensor
                rows = slice(first, first + FINITE_CHECK_ROWS)
                finite = np.isfinite(self.signals[rows]).all(axis=2)
                if not np.all(finite | ~self.mask[rows]):
                    fail("signals", "has non-finite values inside the mask")
        if self.behavior is not None:
            if self.behavior.ndim != 3 or self.behavior.shape[:2] != (n, t):
                fail("behavior", f"must be ({n}, {t}, K), got {self.behavior.shape}")
            if len(self.behavior_names) != self.behavior.shape[2]:
                fail(
                    "behavior",
                    f"has {self.behavior.shape[2]} columns but "
                    f"{len(self.behavior_names)} names {self.behavior_names}",
                )
        if self.video is not None and (self.video.ndim != 5 or self.video.shape[:2] != (n, t)):
            fail("video", f"must be ({n}, {t}, views, H, W), got {self.video.shape}")
        for key, arr in self.conditions.items():
            if np.shape(arr)[:1] != (n,):
                fail(f"conditions/{key}", f"must have {n} entries, got shape {np.shape(arr)}")
        for key, arr in self.channels.items():
            if np.shape(arr)[:1] != (c,):
                fail(f"channels/{key}", f"must have {c} entries, got shape {np.shape(arr)}")

    def write(self, path: str | os.PathLike) -> None:
        """Write atomically to an HDF5 file."""
        self.validate()
        meta = {
            **self.meta,
            "name": self.name,
            "signal_kind": self.signal_kind,
            "bin_size_s": float(self.bin_size_s),
            "format_version": FORMAT_VERSION,
        }
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["meta"] = json.dumps(meta, sort_keys=True, default=_json_default)
            f.create_dataset("signals", data=self.signals, compression="gzip", compression_opts=1)
            f.create_dataset("mask", data=self.mask)
            _write_array(f, "split", self.split)
            if self.behavior is not None:
                d = f.create_dataset("behavior", data=self.behavior)
                d.attrs["names"] = json.dumps(list(self.behavior_names))
            if self.video is not None:
                f.create_dataset(
                    "video",
                    data=np.asarray(self.video, dtype=np.uint8),
                    compression="gzip",
                    compression_opts=1,
                    chunks=(1, *self.video.shape[1:]),
                )
            for group, items in (
                ("conditions", self.conditions),
                ("channels", self.channels),
                ("truth", self.truth),
            ):
                g = f.create_group(group)
                for key, arr in items.items():
                    _write_array(g, key, np.asarray(arr))


def read_tidy(
    path: str | os.PathLike, load_video: bool = True, float_signals: bool = True
) -> TidyDataset:
    """Read a tidy dataset file; errors name the file and the missing or bad key.

    Integer-stored counts come back as float32 (exact) unless ``float_signals`` is False.
    """
    path = Path(path)
    with open_hdf5(path, "tidy dataset", TidyFormatError) as f:
        for key in ("signals", "mask", "split"):
            if key not in f:
                raise TidyFormatError(f"{path}: missing dataset '{key}'")
        if "meta" not in f.attrs:
            raise TidyFormatError(f"{path}: missing attribute 'meta'")
        meta = json.loads(f.attrs["meta"])
        for key in ("name", "signal_kind", "bin_size_s"):
            if key not in meta:
                raise TidyFormatError(f"{path}: 'meta' lacks key '{key}'")
        behavior = f["behavior"][()] if "behavior" in f else None
        names = json.loads(f["behavior"].attrs["names"]) if "behavior" in f else []
        video = f["video"][()] if ("video" in f and load_video) else None
        groups = {
            g: {k: _read_array(f[g][k]) for k in f[g]} if g in f else {}
            for g in ("conditions", "channels", "truth")
        }
        signals, split, mask = f["signals"][()], _read_array(f["split"]), f["mask"][()]
    if float_signals:
        signals = signals.astype(np.float32, copy=False)
    try:
        return TidyDataset(
            name=meta["name"],
            signals=signals,
            split=split,
            bin_size_s=float(meta["bin_size_s"]),
            signal_kind=meta["signal_kind"],
            mask=mask,
            behavior=behavior,
            behavior_names=names,
            video=video,
            conditions=groups["conditions"],
            channels=groups["channels"],
            truth=groups["truth"],
            meta=meta,
        )
    except TidyFormatError as err:
        raise TidyFormatError(f"{path}: {err}") from err


def _write_array(group: h5py.Group, key: str, arr: np.ndarray) -> None:
    if arr.dtype.kind in "UO":
        group.create_dataset(
            key, data=arr.astype(str).astype(object), dtype=h5py.string_dtype("utf-8")
        )
    else:
        group.create_dataset(key, data=arr)


def _read_array(dset: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(dset.dtype) is not None:
        return dset.asstr()[()].astype(str)
    return dset[()]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in tidy metadata")
