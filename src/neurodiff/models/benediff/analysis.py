"""Cross-hemisphere analysis of BeNeDiff latents (the authors' dynamics and CCA analyses).

For a region recorded in both hemispheres (e.g. SSp_L, SSp_R): an affine map from the left
hemisphere's paw factors to the right one's, z_R ≈ A z_L + b, fitted by least squares on the
(trial, time) samples of training trials and scored by R² on test trials (authors: scipy
least_squares on one trial); and canonical correlation analysis between the two hemispheres'
paw factors (authors: 2 components, paw-x and paw-y; here at most as many components as paw
labels), fitted on training trials, with canonical correlations on test trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cross_decomposition import CCA

from neurodiff.metrics.decoding import r2_per_channel
from neurodiff.models.benediff.results import RegionLVMs
from neurodiff.models.benediff.video import AffineMap


def hemisphere_pairs(regions: Sequence[str]) -> list[tuple[str, str, str]]:
    """(region, left name, right name) for every region present as both <R>_L and <R>_R."""
    pairs = []
    for name in regions:
        if name.endswith("_L") and f"{name[:-2]}_R" in regions:
            pairs.append((name[:-2], name, f"{name[:-2]}_R"))
    return pairs


def fit_affine(source: np.ndarray, target: np.ndarray) -> AffineMap:
    """Least-squares affine map from source (n, d_in) to target (n, d_out): target ≈ map(source)."""
    if source.ndim != 2 or target.ndim != 2 or len(source) != len(target):
        raise ValueError(
            f"source (n, d_in) and target (n, d_out) must share n, got "
            f"{source.shape}, {target.shape}"
        )
    design = np.hstack([source, np.ones((len(source), 1))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return AffineMap(solution[:-1].T, solution[-1])


@dataclass(frozen=True)
class CrossHemisphere:
    """Affine and CCA results for one region and one LVM seed."""

    region: str
    paw_labels: list[str]
    example_trial: int
    left_paw: np.ndarray
    right_paw: np.ndarray
    mapped_paw: np.ndarray
    affine_r2: float
    left_canonical: np.ndarray
    right_canonical: np.ndarray
    canonical_correlations: np.ndarray


def cross_hemisphere(
    left: RegionLVMs,
    right: RegionLVMs,
    region: str,
    paw_labels: Sequence[str],
    n_components: int,
    seed_index: int = 0,
    method: str = "benediff",
) -> CrossHemisphere:
    """Affine map and CCA of the paw factors between the two hemispheres.

    The paw factors are the behaviour-tied latent dims of `paw_labels`; the example trial is
    the first test trial.
    """
    missing = [name for name in paw_labels if name not in left.label_names]
    if missing:
        raise ValueError(f"paw labels {missing} are not among the labels {left.label_names}")
    if not np.array_equal(left.split, right.split):
        raise ValueError(f"{left.region} and {right.region} come from different trial splits")
    dims = [left.label_names.index(name) for name in paw_labels]
    z_left, z_right = left.latents[method][seed_index], right.latents[method][seed_index]
    train, test = left.indices("train"), left.indices("test")
    affine = fit_affine(
        z_left[train][..., dims].reshape(-1, len(dims)),
        z_right[train][..., dims].reshape(-1, len(dims)),
    )
    mapped = affine(z_left[..., dims])
    r2 = r2_per_channel(z_right[test][..., dims], mapped[test]).mean()
    n_components = min(n_components, len(dims))
    cca = CCA(n_components=n_components, max_iter=1000)
    paw_left, paw_right = z_left[..., dims], z_right[..., dims]
    cca.fit(paw_left[train].reshape(-1, len(dims)), paw_right[train].reshape(-1, len(dims)))
    u, v = cca.transform(
        paw_left[test].reshape(-1, len(dims)), paw_right[test].reshape(-1, len(dims))
    )
    u, v = u.reshape(len(u), -1), v.reshape(len(v), -1)
    correlations = np.array([np.corrcoef(u[:, i], v[:, i])[0, 1] for i in range(n_components)])
    example = int(test[0])
    u_trial, v_trial = (
        c.reshape(len(c), -1) for c in cca.transform(paw_left[example], paw_right[example])
    )
    return CrossHemisphere(
        region,
        list(paw_labels),
        example,
        z_left[example][:, dims],
        z_right[example][:, dims],
        mapped[example],
        float(r2),
        u_trial,
        v_trial,
        correlations,
    )
