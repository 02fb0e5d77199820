"""BeNeDiff's result containers, written by the training and sampling rules and read by the
tables and figures (numpy only, so plotting does not import the models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurodiff.io import read_npz, write_npz

GROUP_PARTS = ("method", "seed", "region", "dim")  # a guided group's key, in order


@dataclass
class RegionLVMs:
    """Every fitted LVM of one region-hemisphere: data, posterior means and metrics.

    latents[method] (seeds, n, T, K) posterior means of all trials; reconstruction[method]
    (n, T, N) and behavior[method] (n, T, L) of the first seed; gains[method] (seeds, L).
    """

    region: str
    label_names: list[str]
    split: np.ndarray
    signals: np.ndarray
    labels: np.ndarray
    seeds: list[int]
    latents: dict[str, np.ndarray]
    reconstruction: dict[str, np.ndarray]
    behavior: dict[str, np.ndarray]
    gains: dict[str, np.ndarray]
    metrics: list[dict[str, Any]]

    @property
    def methods(self) -> list[str]:
        """Methods in fitting order."""
        return list(self.latents)

    def indices(self, split: str) -> np.ndarray:
        """Trial indices of one split."""
        return np.flatnonzero(self.split == split)

    def save(self, path: str | Path) -> None:
        """Write to one .npz file atomically (metrics go to their own CSV)."""
        arrays: dict[str, np.ndarray] = {
            "region": np.array(self.region),
            "label_names": np.array(self.label_names),
            "split": self.split.astype(str),
            "signals": self.signals,
            "labels": self.labels,
            "seeds": np.array(self.seeds),
            "methods": np.array(self.methods),
        }
        for field_name in ("latents", "reconstruction", "behavior", "gains"):
            for method, value in getattr(self, field_name).items():
                arrays[f"{field_name}__{method}"] = value
        write_npz(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> RegionLVMs:
        """Read a file written by `save` (metrics are not stored there)."""
        f = read_npz(path)
        if "methods" not in f:
            raise ValueError(f"{path} is not a BeNeDiff region file (no 'methods' array)")
        methods = f["methods"].tolist()
        per_method = {
            name: {m: f[f"{name}__{m}"] for m in methods}
            for name in ("latents", "reconstruction", "behavior", "gains")
        }
        return cls(
            region=str(f["region"]),
            label_names=f["label_names"].tolist(),
            split=f["split"],
            signals=f["signals"],
            labels=f["labels"],
            seeds=f["seeds"].tolist(),
            metrics=[],
            **per_method,
        )


@dataclass
class GuidedSamples:
    """Generated videos' labels for every (method, seed, region, latent dim) group and the
    unguided twins.

    labels[reader] (G, n, T, L) and unguided_labels[reader] (n, T, L); latent_variance (G, n)
    and unguided_latent_variance (G, n) hold Var_t of the activated factor as the encoder reads
    it. frames (G₀, n_saved, T, V, H, W) keeps the first `n_saved` videos of the groups of the
    first method and seed (`frame_groups`), unguided_frames (n_saved, ...) their twins.
    """

    groups: list[tuple[str, int, str, int]]
    labels: dict[str, np.ndarray]
    unguided_labels: dict[str, np.ndarray]
    latent_variance: np.ndarray
    unguided_latent_variance: np.ndarray
    frame_groups: list[tuple[str, int, str, int]]
    frames: np.ndarray
    unguided_frames: np.ndarray

    def save(self, path: str | Path, label_names: Sequence[str]) -> None:
        """Write everything to one compressed .npz file atomically."""
        arrays = {
            "label_names": np.array(label_names),
            "readers": np.array(list(self.labels)),
            "latent_variance": self.latent_variance,
            "unguided_latent_variance": self.unguided_latent_variance,
            "frames": self.frames,
            "unguided_frames": self.unguided_frames,
        }
        for name, groups in (("groups", self.groups), ("frame_groups", self.frame_groups)):
            for i, part in enumerate(GROUP_PARTS):
                arrays[f"{name}_{part}"] = np.array([g[i] for g in groups])
        for name in self.labels:
            arrays[f"labels__{name}"] = self.labels[name]
            arrays[f"unguided_labels__{name}"] = self.unguided_labels[name]
        write_npz(path, arrays, compressed=True)

    @classmethod
    def load(cls, path: str | Path) -> tuple[GuidedSamples, list[str]]:
        """Read a file written by `save`: the samples and the label names."""
        f = read_npz(path)
        if "readers" not in f:
            raise ValueError(f"{path} is not a BeNeDiff guided-samples file")
        readers = f["readers"].tolist()

        def groups(name: str) -> list[tuple[str, int, str, int]]:
            return list(zip(*(f[f"{name}_{part}"].tolist() for part in GROUP_PARTS), strict=True))

        samples = cls(
            groups=groups("groups"),
            labels={r: f[f"labels__{r}"] for r in readers},
            unguided_labels={r: f[f"unguided_labels__{r}"] for r in readers},
            latent_variance=f["latent_variance"],
            unguided_latent_variance=f["unguided_latent_variance"],
            frame_groups=groups("frame_groups"),
            frames=f["frames"],
            unguided_frames=f["unguided_frames"],
        )
        return samples, f["label_names"].tolist()
