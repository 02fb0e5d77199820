"""BehaveNet-like widefield session with planted per-region selectivity and an invertible video.

The stand-in for the Musall et al. (2019) data that BeNeDiff models (reference/benediff.md
§2, §6):

- factors: K_b = 3 behaviour factors (paw_x, jaw, lever) and K_u behaviour-irrelevant factors,
  each a smooth Gaussian-process trace gated on at a trial-varying onset and squashed by tanh,
  so every factor lies in (-1, 1).
- neural: per region-hemisphere pseudo-LocaNMF components softplus(A_r f + b_r) + noise. A region
  loads on its two planted behaviour factors (``DEFAULT_SELECTIVITY``) and on every irrelevant
  factor; the two hemispheres of a region share factors with independent weights. Components of
  all regions are shuffled together, so ``regions/indxs_consolidate_lr/<REGION_HEMI>`` is a real
  index array and not a contiguous slice.
- confounds (both off by default): `label_correlation` mixes paw_x into jaw, so their labels
  correlate with |r| ≈ label_correlation; `irrelevant_leak` mixes behaviour factor k mod K_b
  into irrelevant factor k, so the behaviour-irrelevant activity is correlated with behaviour.
  Mixing acts on the gated traces before the tanh: factors = tanh(1.2 · mixing @ sources). A
  model without a total-correlation penalty can then hold behaviour in its unsupervised
  dimensions; the independent part of each irrelevant factor is in truth["sources"].
- labels: the behaviour factors plus Gaussian noise.
- images: 2 grayscale views, rendered analytically from the behaviour factors: view 0 a Gaussian
  blob whose x-position follows paw_x; view 1 a disk whose radius follows jaw (left part) and a
  bar whose height follows lever (right part). ``extract_labels`` inverts the rendering.

Ground truth is saved beside the HDF5 file as ``<stem>.truth.npz`` (see ``truth_path``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
from scipy.ndimage import gaussian_filter1d

from neurodiff.io import atomic_path, read_npz, write_npz

BEHAVIOR_FACTORS = ("paw_x", "jaw", "lever")
DEFAULT_REGIONS = ("VIS", "SSp", "MOs")
DEFAULT_SELECTIVITY: dict[str, tuple[str, ...]] = {
    "VIS": ("paw_x", "jaw"),
    "SSp": ("jaw", "lever"),
    "MOs": ("paw_x", "lever"),
}
HEMISPHERES = ("L", "R")
N_VIEWS = 2
MIN_FRAME_SIZE = 12

# Frame geometry as fractions of the frame width W and height H (pixel centres at 0 .. W-1).
BLOB_SIGMA = 0.075  # blob standard deviation / W
BLOB_SWING = 0.25  # blob x-displacement per unit paw_x / W
DISK_CENTRE_X = 0.3  # disk centre x / W
DISK_RADIUS = (0.16, 0.08)  # disk radius = W * (a + b * jaw)
BAR_START = 0.75  # first bar column / W; the bar ends one column before the right edge
BAR_HEIGHT = (0.5, 0.35)  # bar height = H * (a + b * lever)
DISK_CALIBRATION_RANGE = 1.5  # jaw values beyond +-this are clamped by extract_labels


def truth_path(path: str | os.PathLike) -> Path:
    """Where the ground truth of the simulated file `path` is stored: `<stem>.truth.npz`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.truth.npz")


def load_truth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the ground truth saved beside the simulated file `path`."""
    npz = truth_path(path)
    if not npz.exists():
        raise FileNotFoundError(f"ground truth not found beside {path}: expected {npz}")
    return read_npz(npz)


def mixing_matrix(
    n_irrelevant: int, label_correlation: float = 0.0, irrelevant_leak: float = 0.0
) -> np.ndarray:
    """(K, K) mixing of independent sources into factors (module docstring), rows unit-norm."""
    for name, value in (
        ("label_correlation", label_correlation),
        ("irrelevant_leak", irrelevant_leak),
    ):
        if not -1.0 < value < 1.0:
            raise ValueError(f"{name}={value} must lie in (-1, 1)")
    n_behavior = len(BEHAVIOR_FACTORS)
    mixing = np.eye(n_behavior + n_irrelevant)
    paw, jaw = BEHAVIOR_FACTORS.index("paw_x"), BEHAVIOR_FACTORS.index("jaw")
    mixing[jaw, paw] = label_correlation
    mixing[jaw, jaw] = np.sqrt(1.0 - label_correlation**2)
    for k in range(n_irrelevant):
        row = n_behavior + k
        mixing[row, k % n_behavior] = irrelevant_leak
        mixing[row, row] = np.sqrt(1.0 - irrelevant_leak**2)
    return mixing


def simulate_factors(
    rng: np.random.Generator,
    n_trials: int,
    n_frames: int,
    n_factors: int,
    length_scale: float,
    onset_range: tuple[float, float] = (0.15, 0.5),
    mixing: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth factor traces in (-1, 1), off before a per-(trial, factor) onset: (trials, T, K).

    With `mixing` (K, K), the gated independent traces are mixed before the tanh.
    """
    pad = int(np.ceil(4 * length_scale))
    noise = rng.standard_normal((n_trials, n_frames + 2 * pad, n_factors))
    smooth = gaussian_filter1d(noise, length_scale, axis=1)[:, pad : pad + n_frames]
    smooth /= np.sqrt(np.sum(_gaussian_kernel(length_scale) ** 2))  # unit stationary variance
    onsets = rng.uniform(*onset_range, size=(n_trials, n_factors)) * n_frames
    t = np.arange(n_frames)[None, :, None]
    gate = 1.0 / (1.0 + np.exp(-(t - onsets[:, None, :]) / 1.5))
    sources = gate * smooth
    if mixing is not None:
        if mixing.shape != (n_factors, n_factors):
            raise ValueError(f"mixing must be ({n_factors}, {n_factors}), got {mixing.shape}")
        sources = sources @ mixing.T
    return np.tanh(1.2 * sources), onsets


def render_video(behavior: np.ndarray, frame_size: tuple[int, int] = (16, 16)) -> np.ndarray:
    """Render behaviour factors (..., 3) = (paw_x, jaw, lever) as uint8 frames (..., 2, H, W)."""
    behavior = np.asarray(behavior, dtype=np.float64)
    if behavior.shape[-1] != len(BEHAVIOR_FACTORS):
        raise ValueError(
            f"behavior must end in {len(BEHAVIOR_FACTORS)} columns "
            f"{BEHAVIOR_FACTORS}, got shape {behavior.shape}"
        )
    height, width = _check_frame_size(frame_size)
    paw, jaw, lever = (behavior[..., k, None, None] for k in range(3))
    blob = _render_blob(paw, height, width)
    view1 = _render_disk(jaw, height, width) + _render_bar(lever, height, width)
    frames = np.stack([blob, view1], axis=-3)
    return np.rint(255.0 * np.clip(frames, 0.0, 1.0)).astype(np.uint8)


def extract_labels(video: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """Recover (paw_x, jaw, lever) (..., 3) from frames (..., 2, H, W) rendered by render_video.

    paw_x from the intensity centroid of view 0, jaw from the disk area in view 1 (through the
    renderer's calibration curve; values clamp at +-DISK_CALIBRATION_RANGE), lever from the mean
    column sum of the bar. `scale` is the intensity of a fully lit pixel (255 for uint8).
    """
    video = np.asarray(video, dtype=np.float64) / scale
    if video.ndim < 3 or video.shape[-3] != N_VIEWS:
        raise ValueError(f"video must be (..., {N_VIEWS}, H, W), got shape {video.shape}")
    height, width = _check_frame_size(video.shape[-2:])
    bar_start = _bar_columns(width).start
    view0, view1 = video[..., 0, :, :], video[..., 1, :, :]
    mass = np.maximum(view0.sum(axis=(-2, -1)), 1e-12)
    centroid = (view0 * np.arange(width)).sum(axis=(-2, -1)) / mass
    paw = (centroid - (width - 1) / 2) / (BLOB_SWING * width)
    area = view1[..., :bar_start].sum(axis=(-2, -1))
    jaw_grid = np.linspace(-DISK_CALIBRATION_RANGE, DISK_CALIBRATION_RANGE, 3001)
    area_grid = _render_disk(jaw_grid[:, None, None], height, width).sum(axis=(-2, -1))
    jaw = np.interp(area, area_grid, jaw_grid)
    bar_height = view1[..., _bar_columns(width)].sum(axis=-2).mean(axis=-1)
    lever = (bar_height / height - BAR_HEIGHT[0]) / BAR_HEIGHT[1]
    return np.stack([paw, jaw, lever], axis=-1)


def write_behavenet_like(
    path: str | os.PathLike,
    n_trials: int = 120,
    n_frames: int = 32,
    regions: Sequence[str] = DEFAULT_REGIONS,
    components_per_region: int | Mapping[str, int] = 7,
    frame_size: tuple[int, int] = (16, 16),
    seed: int = 0,
    n_irrelevant: int = 2,
    selectivity: Mapping[str, Sequence[str]] | None = None,
    neural_noise: float = 0.1,
    label_noise: float = 0.05,
    video_noise: float = 0.0,
    length_scale: float | None = None,
    label_correlation: float = 0.0,
    irrelevant_leak: float = 0.0,
) -> dict[str, np.ndarray]:
    """Write a BehaveNet-layout HDF5 session with planted selectivity; return its ground truth.

    `regions` are region names without hemisphere; each gets an _L and _R group whose size comes
    from `components_per_region` (one int, or a mapping from REGION_HEMI to int). `selectivity`
    maps a region name to the behaviour factors it encodes (default DEFAULT_SELECTIVITY).
    `video_noise` is the standard deviation of Gaussian pixel noise in uint8 units.
    `label_correlation` and `irrelevant_leak` plant the confounds of the module docstring.
    """
    selectivity = dict(DEFAULT_SELECTIVITY if selectivity is None else selectivity)
    group_names, group_sizes = _region_groups(regions, components_per_region, selectivity)
    rng = np.random.default_rng(seed)
    scale = max(2.0, n_frames / 10) if length_scale is None else length_scale
    mixing = mixing_matrix(n_irrelevant, label_correlation, irrelevant_leak)
    factors, onsets = simulate_factors(
        rng, n_trials, n_frames, len(BEHAVIOR_FACTORS) + n_irrelevant, scale, mixing=mixing
    )
    factor_names = [*BEHAVIOR_FACTORS, *(f"irrelevant_{k}" for k in range(n_irrelevant))]
    planted = _planted_mask(group_names, selectivity, factor_names)
    component_region = np.repeat(group_names, group_sizes)
    loadings, offsets = _draw_loadings(
        rng, planted[np.repeat(np.arange(len(group_names)), group_sizes)]
    )
    order = rng.permutation(len(component_region))  # file column j holds component order[j]
    loadings, offsets, component_region = loadings[order], offsets[order], component_region[order]
    rates = _softplus(factors @ loadings.T + offsets)
    neural = rates + neural_noise * rng.standard_normal(rates.shape)
    behavior = factors[..., : len(BEHAVIOR_FACTORS)]
    labels = behavior + label_noise * rng.standard_normal(behavior.shape)
    video = render_video(behavior, frame_size)
    if video_noise > 0:
        noisy = video + video_noise * rng.standard_normal(video.shape)
        video = np.rint(np.clip(noisy, 0, 255)).astype(np.uint8)
    truth = {
        "factors": factors.astype(np.float32),
        "factor_names": np.array(factor_names),
        "behavior_names": np.array(BEHAVIOR_FACTORS),
        "onsets": onsets.astype(np.float32),
        "rates": rates.astype(np.float32),
        "loadings": loadings.astype(np.float32),
        "offsets": offsets.astype(np.float32),
        "component_region": component_region,
        "region_names": np.array(group_names),
        "planted": planted,
        "seed": np.array(seed),
        "frame_size": np.array(frame_size),
        "mixing": mixing.astype(np.float32),
        "label_correlation": np.array(label_correlation),
        "irrelevant_leak": np.array(irrelevant_leak),
        "label_correlation_matrix": np.corrcoef(
            labels.reshape(-1, labels.shape[-1]), rowvar=False
        ).astype(np.float32),
        "leak_correlation": _leak_correlation(factors, len(BEHAVIOR_FACTORS)),
    }
    _write_hdf5(
        path,
        neural.astype(np.float32),
        labels.astype(np.float32),
        video,
        component_region,
        group_names,
    )
    write_npz(truth_path(path), truth)
    return truth


def _leak_correlation(factors: np.ndarray, n_behavior: int) -> np.ndarray:
    """(irrelevant, behaviour) Pearson correlation of the planted factors over (trial, time)."""
    flat = factors.reshape(-1, factors.shape[-1])
    corr = np.corrcoef(flat, rowvar=False)
    return corr[n_behavior:, :n_behavior].astype(np.float32)


def _write_hdf5(
    path: str | os.PathLike,
    neural: np.ndarray,
    labels: np.ndarray,
    video: np.ndarray,
    component_region: np.ndarray,
    group_names: list[str],
) -> None:
    """Write the BehaveNet groups: images, neural, labels, regions/indxs{,_consolidate_lr}."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for group, arrays in (("images", video), ("neural", neural), ("labels", labels)):
            g = f.create_group(group)
            for trial, arr in enumerate(arrays):
                g.create_dataset(f"trial_{trial:04d}", data=arr)
        consolidated = f.create_group("regions/indxs_consolidate_lr")
        fine = f.create_group("regions/indxs")
        for name in group_names:
            idx = np.flatnonzero(component_region == name)
            consolidated.create_dataset(name, data=idx)
            region, hemi = name.rsplit("_", 1)
            half = (len(idx) + 1) // 2  # two sub-areas per region, as Allen sub-regions
            fine.create_dataset(f"{region}1_{hemi}", data=idx[:half])
            fine.create_dataset(f"{region}2_{hemi}", data=idx[half:])


def _region_groups(
    regions: Sequence[str],
    components_per_region: int | Mapping[str, int],
    selectivity: Mapping[str, Sequence[str]],
) -> tuple[list[str], list[int]]:
    """Region-hemisphere names and their component counts, checked against the selectivity map."""
    missing = [r for r in regions if r not in selectivity]
    if missing:
        raise ValueError(f"regions {missing} have no selectivity; known: {sorted(selectivity)}")
    names = [f"{region}_{hemi}" for region in regions for hemi in HEMISPHERES]
    if isinstance(components_per_region, Mapping):
        absent = [n for n in names if n not in components_per_region]
        if absent:
            raise ValueError(f"components_per_region lacks {absent}")
        sizes = [int(components_per_region[n]) for n in names]
    else:
        sizes = [int(components_per_region)] * len(names)
    if min(sizes) < 1:
        counts = dict(zip(names, sizes, strict=True))
        raise ValueError(f"every region needs at least one component, got {counts}")
    return names, sizes


def _planted_mask(
    group_names: list[str], selectivity: Mapping[str, Sequence[str]], factor_names: list[str]
) -> np.ndarray:
    """(regions, factors) bool: which factors each region-hemisphere loads on."""
    planted = np.zeros((len(group_names), len(factor_names)), dtype=bool)
    for i, name in enumerate(group_names):
        encoded = selectivity[name.rsplit("_", 1)[0]]
        unknown = sorted(set(encoded) - set(BEHAVIOR_FACTORS))
        if unknown:
            raise ValueError(
                f"selectivity of {name} names unknown factors {unknown}; "
                f"allowed: {BEHAVIOR_FACTORS}"
            )
        planted[i] = [f in encoded or f.startswith("irrelevant_") for f in factor_names]
    return planted


def _draw_loadings(rng: np.random.Generator, planted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loadings (components, factors), zero where not planted, and softplus offsets."""
    n_behavior = len(BEHAVIOR_FACTORS)
    gain = np.where(np.arange(planted.shape[1]) < n_behavior, 1.5, 0.7)
    magnitude = rng.uniform(0.5, 1.0, planted.shape) * rng.choice([-1.0, 1.0], planted.shape)
    loadings = planted * gain * magnitude
    offsets = rng.uniform(-0.5, 0.5, planted.shape[0])
    return loadings, offsets


def _render_blob(paw: np.ndarray, height: int, width: int) -> np.ndarray:
    sigma = BLOB_SIGMA * width
    centre_x = (width - 1) / 2 + BLOB_SWING * width * paw
    rows, cols = np.mgrid[0:height, 0:width]
    dist2 = (cols - centre_x) ** 2 + (rows - (height - 1) / 2) ** 2
    return np.exp(-dist2 / (2 * sigma**2))


def _render_disk(jaw: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased disk: pixel value ramps from 1 to 0 across the edge (width one pixel)."""
    radius = width * (DISK_RADIUS[0] + DISK_RADIUS[1] * jaw)
    rows, cols = np.mgrid[0:height, 0:width]
    dist = np.hypot(cols - DISK_CENTRE_X * width, rows - (height - 1) / 2)
    disk = np.clip(radius - dist + 0.5, 0.0, 1.0)
    return np.where(cols < _bar_columns(width).start, disk, 0.0)


def _render_bar(lever: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bar rising from the bottom row; the top pixel holds the fractional part of the height."""
    bar_height = height * (BAR_HEIGHT[0] + BAR_HEIGHT[1] * lever)
    level = (height - 1 - np.arange(height))[:, None]  # rows counted from the bottom
    column = np.clip(bar_height - level, 0.0, 1.0)
    cols = np.arange(width)
    in_bar = (cols >= _bar_columns(width).start) & (cols < _bar_columns(width).stop)
    return column * in_bar


def _bar_columns(width: int) -> slice:
    return slice(int(BAR_START * width), width - 1)


def _check_frame_size(frame_size: Sequence[int]) -> tuple[int, int]:
    height, width = (int(s) for s in frame_size)
    if min(height, width) < MIN_FRAME_SIZE:
        raise ValueError(
            f"frame_size must be at least {MIN_FRAME_SIZE}x{MIN_FRAME_SIZE} so the "
            f"shapes fit, got {height}x{width}"
        )
    return height, width


def _gaussian_kernel(sigma: float) -> np.ndarray:
    impulse = np.zeros(2 * int(np.ceil(4 * sigma)) + 1)
    impulse[len(impulse) // 2] = 1.0
    return gaussian_filter1d(impulse, sigma)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)
