"""Guided generation of behaviour videos that activate one neural latent factor (BeNeDiff Fig. 2).

For every LVM method of `guidance.methods` (BeNeDiff and the baselines), seed and region, a
linear encoder maps a frame's code to the region's latent means (ridge regression, latents
z-scored with training statistics). Guided sampling raises J = Var_t(encoder_d(x̂₀)) for one
latent dim d through `objective_guidance`: each label's dim (a supervised method's tied dim,
an unsupervised method's largest-MI dim) and, as negative controls, unsupervised dims.
Unguided samples start from the same noise x_T (deterministic DDIM), so each guided video has
an unguided twin. The scale of each method is chosen among `guidance.scales` on other initial
noises, scored by a pixel→label reader fitted on the validation trials (`select_scales`);
the reported samples use fresh noises. Labels are read from the decoded frames by the exact
label extractor of the simulated video and by a ridge decoder from pixels fitted on the
training frames, and compared with `neurodiff.metrics.generation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neurodiff.data.simulate.widefield import extract_labels
from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion import NoiseSchedule, ddim_sample, objective_guidance
from neurodiff.metrics.decoding import r2_per_channel
from neurodiff.metrics.disentangle import assigned_dims
from neurodiff.metrics.generation import guidance_specificity, temporal_variance, variance_ratios
from neurodiff.models.benediff.fit import zscore_with_train
from neurodiff.models.benediff.results import GuidedSamples, RegionLVMs
from neurodiff.models.benediff.settings import GuidanceSettings
from neurodiff.models.benediff.video import (
    CodeScaler,
    FrameAutoencoder,
    LinearEncoder,
    SpaceTimeUNet,
    decode_video,
    fit_linear_encoder,
    flatten_frame_codes,
    latent_variance_objective,
)

LabelReader = Callable[[np.ndarray], np.ndarray]


SUPERVISED_METHODS = ("benediff", "supervised_no_tc")


@dataclass(frozen=True)
class FittedEncoder:
    """A region's linear video→latent encoder, its held-out R² per latent dimension, the dim
    standing for each label and the unsupervised dims activated as controls."""

    encoder: LinearEncoder
    heldout_r2: np.ndarray
    label_dims: tuple[int, ...] = ()
    control_dims: tuple[int, ...] = ()


def fit_region_encoder(
    frame_codes: np.ndarray,
    latents: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float,
) -> FittedEncoder:
    """Ridge from flattened frame codes (n, T, D) to z-scored latent means (n, T, K)."""
    targets = zscore_with_train(latents, train_idx)
    dim, k = frame_codes.shape[-1], targets.shape[-1]
    encoder = fit_linear_encoder(
        frame_codes[train_idx].reshape(-1, dim), targets[train_idx].reshape(-1, k), alpha
    )
    r2 = r2_per_channel(targets[test_idx], encoder(frame_codes[test_idx]))
    return FittedEncoder(encoder, r2)


def _block_mean(frames: np.ndarray, pixels: int, chunk: int = 4096) -> np.ndarray:
    """uint8 frames (m, V, H, W) averaged over blocks to (m, V·pixels·pixels) float32 features
    in [0, 1], `chunk` frames at a time (paper-size videos do not fit in memory as floats)."""
    m, v, h, w = frames.shape
    if h % pixels or w % pixels:
        raise ValueError(f"frame size {h}x{w} is not divisible by pixels={pixels}")
    features = np.empty((m, v * pixels * pixels), dtype=np.float32)
    for start in range(0, m, chunk):
        block = frames[start : start + chunk].astype(np.float32) / 255.0
        block = block.reshape(-1, v, pixels, h // pixels, pixels, w // pixels)
        features[start : start + chunk] = block.mean(axis=(3, 5)).reshape(len(block), -1)
    return features


@dataclass(frozen=True)
class PixelLabelDecoder:
    """Ridge regression from block-averaged pixels of one frame to its labels."""

    encoder: LinearEncoder
    pixels: int
    heldout_r2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __call__(self, video: np.ndarray) -> np.ndarray:
        """Labels (..., L) of uint8 frames (..., V, H, W)."""
        lead = video.shape[:-3]
        features = _block_mean(video.reshape(-1, *video.shape[-3:]), self.pixels)
        return self.encoder(features).reshape(*lead, -1)


def fit_pixel_label_decoder(
    video: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    pixels: int,
    alpha: float,
) -> PixelLabelDecoder:
    """Fit the pixel→label ridge on training trials' frames (frames with NaN labels left out)."""
    frames = video[train_idx].reshape(-1, *video.shape[2:])
    targets = labels[train_idx].reshape(-1, labels.shape[-1])
    keep = np.isfinite(targets).all(axis=1)
    encoder = fit_linear_encoder(_block_mean(frames[keep], pixels), targets[keep], alpha)
    decoder = PixelLabelDecoder(encoder, pixels)
    test_labels = labels[test_idx].reshape(-1, labels.shape[-1])
    rows = np.isfinite(test_labels).all(axis=1)
    predicted = decoder(video[test_idx]).reshape(-1, labels.shape[-1])
    return PixelLabelDecoder(encoder, pixels, r2_per_channel(test_labels[rows], predicted[rows]))


@torch.no_grad()
def sample_code_videos(
    unet: SpaceTimeUNet,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    directions: torch.Tensor | None,
    scale: float,
    steps: int,
    chunk_size: int,
) -> torch.Tensor:
    """DDIM samples from x_T (B, C, T, h, w), guided row by row along `directions` (B, D)
    when given (J = Var_t(dᵀ v_t) on x̂₀), in chunks of `chunk_size` rows, on x_T's device;
    returned on the CPU."""
    samples = []
    for start in range(0, len(x_T), chunk_size):
        rows = slice(start, start + chunk_size)
        guidance = (
            None
            if directions is None
            else objective_guidance(latent_variance_objective(directions[rows]))
        )
        samples.append(
            ddim_sample(
                unet,
                schedule,
                tuple(x_T[rows].shape),
                num_inference_steps=steps,
                x_T=x_T[rows],
                guidance=guidance,
                guidance_scale=scale,
                device=x_T.device,
            ).cpu()
        )
    return torch.cat(samples)


def _decode_and_read(
    autoencoder: FrameAutoencoder,
    scaler: CodeScaler,
    codes: torch.Tensor,
    readers: dict[str, LabelReader],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """uint8 videos of scaled code videos, and the labels each reader finds in them."""
    video = decode_video(autoencoder, scaler.from_unit(codes))
    return video, {name: read(video) for name, read in readers.items()}


def _factor_variance(codes: torch.Tensor, direction: torch.Tensor) -> np.ndarray:
    """Var_t of dᵀ v_t per video: codes (n, C, T, h, w), direction (D,) → (n,)."""
    factor = flatten_frame_codes(codes) @ direction
    return temporal_variance(factor[..., None].numpy())[..., 0]


Group = tuple[str, int, str, int]  # (LVM method, LVM seed, region, latent dim)


def guidance_groups(
    encoders: Mapping[tuple[str, int, str], FittedEncoder],
    controls: bool = True,
    seeds: Sequence[int] | None = None,
) -> list[Group]:
    """Every (method, seed, region, dim) to activate: each label's dim, then the controls."""
    groups = []
    for (method, seed, region), fitted in encoders.items():
        if seeds is not None and seed not in seeds:
            continue
        dims = [*fitted.label_dims, *(fitted.control_dims if controls else [])]
        groups += [(method, seed, region, int(d)) for d in dims]
    return groups


def _noise(n_samples: int, scaler: CodeScaler, n_frames: int, seed: int) -> torch.Tensor:
    """Initial noise x_T (n, C, T, h, w) drawn on the CPU from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        (n_samples, *scaler.low.shape[:1], n_frames, *scaler.low.shape[1:]), generator=generator
    )


def _directions(
    encoders: Mapping[tuple[str, int, str], FittedEncoder], groups: Sequence[Group]
) -> torch.Tensor:
    return torch.stack(
        [torch.from_numpy(encoders[(m, s, r)].encoder.weight[d]) for m, s, r, d in groups]
    )


def generate_guided(
    unet: SpaceTimeUNet,
    schedule: NoiseSchedule,
    autoencoder: FrameAutoencoder,
    scaler: CodeScaler,
    encoders: dict[tuple[str, int, str], FittedEncoder],
    groups: Sequence[Group],
    readers: dict[str, LabelReader],
    n_samples: int,
    n_frames: int,
    scales: Mapping[str, float],
    steps: int,
    chunk_size: int,
    n_saved: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> GuidedSamples:
    """Unguided samples and, for every group, guided twins from the same initial noise.

    `scales[method]` is the guidance scale of each LVM method's groups. The initial noise is
    drawn on the CPU from `seed` (identical on every device); sampling and decoding run on
    `device`. Frames are kept for the groups of the first group's method and seed.
    """
    unet.to(device)
    autoencoder.to(device)
    x_T = _noise(n_samples, scaler, n_frames, seed)
    directions = _directions(encoders, groups)
    unguided = sample_code_videos(unet, schedule, x_T.to(device), None, 0.0, steps, chunk_size)
    unguided_video, unguided_labels = _decode_and_read(autoencoder, scaler, unguided, readers)
    guided = []
    for method in dict.fromkeys(g[0] for g in groups):  # one sampling pass per scale
        rows = [i for i, g in enumerate(groups) if g[0] == method]
        batch = sample_code_videos(
            unet,
            schedule,
            x_T.repeat(len(rows), 1, 1, 1, 1).to(device),
            directions[rows].repeat_interleave(n_samples, dim=0).to(device),
            scales[method],
            steps,
            chunk_size,
        )
        guided += list(batch.unflatten(0, (len(rows), n_samples)))
    shown = groups[0][:2]
    labels: dict[str, list[np.ndarray]] = {name: [] for name in readers}
    frames = []
    for g, group in enumerate(groups):  # decode group by group to bound memory
        video, found = _decode_and_read(autoencoder, scaler, guided[g], readers)
        for name, value in found.items():
            labels[name].append(value)
        if group[:2] == shown:
            frames.append(video[:n_saved])
    return GuidedSamples(
        groups=list(groups),
        labels={name: np.stack(values) for name, values in labels.items()},
        unguided_labels=unguided_labels,
        latent_variance=np.stack(
            [_factor_variance(guided[g], directions[g]) for g in range(len(groups))]
        ),
        unguided_latent_variance=np.stack([_factor_variance(unguided, d) for d in directions]),
        frame_groups=[group for group in groups if group[:2] == shown],
        frames=np.stack(frames),
        unguided_frames=unguided_video[:n_saved],
    )


def group_target(
    encoders: Mapping[tuple[str, int, str], FittedEncoder], group: Group
) -> int | None:
    """The label index a group's dim stands for, or None for an unsupervised (control) dim."""
    method, seed, region, dim = group
    label_dims = list(encoders[(method, seed, region)].label_dims)
    return label_dims.index(dim) if dim in label_dims else None


def specificity_rows(
    samples: GuidedSamples,
    encoders: dict[tuple[str, int, str], FittedEncoder],
    label_names: Sequence[str],
    scales: Mapping[str, float],
) -> list[dict[str, object]]:
    """One row per (group, label reader): variance ratios and specificity.

    A label dim's specificity is that of its own label; an unsupervised (control) dim, which
    stands for no label, gets the largest specificity over the labels (a conservative
    control: selection over labels can only raise it above 1).
    """
    rows = []
    for g, group in enumerate(samples.groups):
        method, seed, region, dim = group
        target = group_target(encoders, group)
        latent_ratio = (
            samples.latent_variance[g].mean() / samples.unguided_latent_variance[g].mean()
        )
        for reader, labels in samples.labels.items():
            ratios = variance_ratios(labels[g], samples.unguided_labels[reader])
            k = int(np.argmax(ratios)) if target is None else target
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "region": region,
                    "kind": "control" if target is None else "label",
                    "factor": f"unsupervised_{dim}" if target is None else label_names[k],
                    "dim": dim,
                    "target_label": label_names[k],
                    "reader": reader,
                    "scale": float(scales[method]),
                    "encoder_r2": float(encoders[(method, seed, region)].heldout_r2[dim]),
                    "latent_variance_ratio": float(latent_ratio),
                    "target_ratio": float(ratios[k]),
                    "other_ratio": float(np.delete(ratios, k).mean()),
                    "specificity": guidance_specificity(ratios, k),
                }
            )
    return rows


def label_readers(
    ds: TidyDataset, train_idx: np.ndarray, test_idx: np.ndarray, pixels: int, alpha: float
) -> tuple[dict[str, LabelReader], dict[str, float]]:
    """The label readers for generated frames and their held-out R² on real frames.

    "ridge": pixel → label ridge decoder (both presets); "exact": the simulated video's exact
    extractor (simulated sessions only).
    """
    decoder = fit_pixel_label_decoder(ds.video, ds.behavior, train_idx, test_idx, pixels, alpha)
    readers: dict[str, LabelReader] = {"ridge": decoder}
    quality = {"ridge": float(decoder.heldout_r2.mean())}
    if ds.meta.get("source") == "simulate":
        readers["exact"] = extract_labels
        found = extract_labels(ds.video[test_idx])
        quality["exact"] = float(r2_per_channel(ds.behavior[test_idx], found).mean())
    return readers, quality


def select_scales(
    unet: SpaceTimeUNet,
    schedule: NoiseSchedule,
    autoencoder: FrameAutoencoder,
    scaler: CodeScaler,
    encoders: dict[tuple[str, int, str], FittedEncoder],
    reader: LabelReader,
    candidates: Sequence[float],
    n_samples: int,
    n_frames: int,
    steps: int,
    chunk_size: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, float], list[dict[str, object]]]:
    """Per LVM method, the candidate scale of largest mean label-dim specificity.

    Scored on the first LVM seed's label dims, from initial noises of `seed` (not the
    evaluation's), with `reader` (fitted on validation trials): the evaluated samples and
    test trials never choose the scale. Every method gets the same candidates.
    """
    first_seed = min(key[1] for key in encoders)
    groups = guidance_groups(encoders, controls=False, seeds=[first_seed])
    methods = list(dict.fromkeys(g[0] for g in groups))
    scores: dict[str, dict[float, float]] = {m: {} for m in methods}
    rows = []
    for scale in candidates:
        samples = generate_guided(
            unet,
            schedule,
            autoencoder,
            scaler,
            encoders,
            groups,
            {"val": reader},
            n_samples,
            n_frames,
            dict.fromkeys(methods, float(scale)),
            steps,
            chunk_size,
            0,
            seed,
            device,
        )
        for method in methods:
            spec = [
                guidance_specificity(
                    variance_ratios(samples.labels["val"][g], samples.unguided_labels["val"]),
                    group_target(encoders, group),
                )
                for g, group in enumerate(groups)
                if group[0] == method
            ]
            scores[method][float(scale)] = float(np.mean(spec))
            rows.append(
                {
                    "method": method,
                    "scale": float(scale),
                    "val_specificity": float(np.mean(spec)),
                    "n_groups": len(spec),
                }
            )
    chosen = {m: max(scores[m], key=scores[m].get) for m in methods}
    for row in rows:
        row["chosen"] = row["scale"] == chosen[row["method"]]
    return chosen, rows


def fit_encoders(
    frame_codes: np.ndarray,
    regions: Mapping[str, RegionLVMs],
    methods: Sequence[str],
    n_controls: int,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alpha: float,
    mig_bins: int,
) -> dict[tuple[str, int, str], FittedEncoder]:
    """One linear encoder per (method, seed, region), with its label and control dims.

    Label dims: a supervised method's tied dims; for an unsupervised one, each label's
    largest-MI dim on training trials. Controls: the first `n_controls` other dims.
    """
    encoders = {}
    for region, fitted in regions.items():
        for method in methods:
            if method not in fitted.latents:
                raise ValueError(
                    f"guidance method {method!r} was not fitted for {region}; "
                    f"fitted: {fitted.methods}"
                )
            for i, seed in enumerate(fitted.seeds):
                latents = fitted.latents[method][i]
                if method in SUPERVISED_METHODS:
                    dims = np.arange(len(fitted.label_names))
                else:
                    dims = assigned_dims(latents[train_idx], fitted.labels[train_idx], mig_bins)
                others = np.setdiff1d(np.arange(latents.shape[-1]), dims)[:n_controls]
                enc = fit_region_encoder(frame_codes, latents, train_idx, test_idx, alpha)
                encoders[(method, seed, region)] = FittedEncoder(
                    enc.encoder,
                    enc.heldout_r2,
                    tuple(int(d) for d in dims),
                    tuple(int(d) for d in others),
                )
    return encoders


def guide_session(
    ds: TidyDataset,
    codes: np.ndarray,
    scaler: CodeScaler,
    autoencoder: FrameAutoencoder,
    unet: SpaceTimeUNet,
    schedule: NoiseSchedule,
    regions: Mapping[str, RegionLVMs],
    section: GuidanceSettings | Mapping[str, Any],
    mig_bins: int = 20,
    device: torch.device | str = "cpu",
) -> tuple[GuidedSamples, list[dict[str, Any]], list[dict[str, Any]]]:
    """Fit encoders and label readers, choose the scales on validation, generate, and score.

    `codes` (n, C, T, h, w) are the session's scaled frame codes; `regions` maps each region to
    its fitted LVMs (the latents of every method of the guidance settings' `methods` and seed
    are encoded). Returns the samples, the specificity rows and the scale-selection rows.
    """
    guidance = GuidanceSettings.of(section)
    train_idx, val_idx, test_idx = ds.indices("train"), ds.indices("val"), ds.indices("test")
    if len(val_idx) == 0:
        raise ValueError(f"{ds.name}: no validation trials to choose the guidance scale on")
    frame_codes = flatten_frame_codes(codes)
    encoders = fit_encoders(
        frame_codes,
        regions,
        guidance.methods,
        guidance.control_dims,
        train_idx,
        test_idx,
        guidance.encoder_ridge_alpha,
        mig_bins,
    )
    pixels, alpha = guidance.label_decoder_pixels, guidance.label_decoder_alpha
    val_reader = fit_pixel_label_decoder(ds.video, ds.behavior, val_idx, val_idx, pixels, alpha)
    sampling = {
        "n_frames": codes.shape[2],
        "steps": guidance.sampling_steps,
        "chunk_size": guidance.chunk_size,
        "device": device,
    }
    scales, selection = select_scales(
        unet,
        schedule,
        autoencoder,
        scaler,
        encoders,
        val_reader,
        guidance.scales,
        guidance.selection_samples,
        seed=guidance.seed + 1,
        **sampling,
    )
    readers, reader_r2 = label_readers(ds, train_idx, test_idx, pixels, alpha)
    groups = guidance_groups(encoders)
    samples = generate_guided(
        unet,
        schedule,
        autoencoder,
        scaler,
        encoders,
        groups,
        readers,
        n_samples=guidance.samples_per_factor,
        scales=scales,
        n_saved=guidance.saved_samples,
        seed=guidance.seed,
        **sampling,
    )
    rows = specificity_rows(samples, encoders, ds.behavior_names, scales)
    for row in rows:
        row["reader_r2"] = reader_r2[row["reader"]]
    return samples, rows, selection
