"""Guided generation of behaviour videos that activate one neural latent factor (BeNeDiff Fig. 2).

For every LVM seed and region, a linear encoder maps a frame's code to the region's BeNeDiff
latent means (ridge regression, latents z-scored with training statistics). Guided sampling
raises J = Var_t(encoderₖ(x̂₀)) for one behaviour-tied factor k through `objective_guidance`;
unguided samples start from the same noise x_T (deterministic DDIM), so each guided video has
an unguided twin. Labels are read from the decoded frames by the exact label extractor of the
simulated video (quick preset) and by a ridge decoder from pixels fitted on the real frames
(both presets), and compared with `neurodiff.metrics.benediff`.
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
from neurodiff.metrics.benediff import (
    guidance_specificity,
    r2_per_channel,
    temporal_variance,
    variance_ratios,
)
from neurodiff.models.benediff.fit import zscore_with_train
from neurodiff.models.benediff.results import GuidedSamples, RegionLVMs
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


@dataclass(frozen=True)
class FittedEncoder:
    """A region's linear video→latent encoder and its held-out R² per latent dimension."""

    encoder: LinearEncoder
    heldout_r2: np.ndarray


def fit_region_encoder(frame_codes: np.ndarray, latents: np.ndarray, train_idx: np.ndarray,
                       test_idx: np.ndarray, alpha: float) -> FittedEncoder:
    """Ridge from flattened frame codes (n, T, D) to z-scored latent means (n, T, K)."""
    targets = zscore_with_train(latents, train_idx)
    dim, k = frame_codes.shape[-1], targets.shape[-1]
    encoder = fit_linear_encoder(frame_codes[train_idx].reshape(-1, dim),
                                 targets[train_idx].reshape(-1, k), alpha)
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
        block = frames[start:start + chunk].astype(np.float32) / 255.0
        block = block.reshape(-1, v, pixels, h // pixels, pixels, w // pixels)
        features[start:start + chunk] = block.mean(axis=(3, 5)).reshape(len(block), -1)
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


def fit_pixel_label_decoder(video: np.ndarray, labels: np.ndarray, train_idx: np.ndarray,
                            test_idx: np.ndarray, pixels: int, alpha: float
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
def sample_code_videos(unet: SpaceTimeUNet, schedule: NoiseSchedule, x_T: torch.Tensor,
                       directions: torch.Tensor | None, scale: float, steps: int,
                       chunk_size: int) -> torch.Tensor:
    """DDIM samples from x_T (B, C, T, h, w), guided row by row along `directions` (B, D)
    when given (J = Var_t(dᵀ v_t) on x̂₀), in chunks of `chunk_size` rows, on x_T's device;
    returned on the CPU."""
    samples = []
    for start in range(0, len(x_T), chunk_size):
        rows = slice(start, start + chunk_size)
        guidance = (None if directions is None
                    else objective_guidance(latent_variance_objective(directions[rows])))
        samples.append(ddim_sample(unet, schedule, tuple(x_T[rows].shape),
                                   num_inference_steps=steps, x_T=x_T[rows], guidance=guidance,
                                   guidance_scale=scale, device=x_T.device).cpu())
    return torch.cat(samples)


def _decode_and_read(autoencoder: FrameAutoencoder, scaler: CodeScaler, codes: torch.Tensor,
                     readers: dict[str, LabelReader]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """uint8 videos of scaled code videos, and the labels each reader finds in them."""
    video = decode_video(autoencoder, scaler.from_unit(codes))
    return video, {name: read(video) for name, read in readers.items()}


def _factor_variance(codes: torch.Tensor, direction: torch.Tensor) -> np.ndarray:
    """Var_t of dᵀ v_t per video: codes (n, C, T, h, w), direction (D,) → (n,)."""
    factor = flatten_frame_codes(codes) @ direction
    return temporal_variance(factor[..., None].numpy())[..., 0]


def generate_guided(unet: SpaceTimeUNet, schedule: NoiseSchedule, autoencoder: FrameAutoencoder,
                    scaler: CodeScaler, encoders: dict[tuple[int, str], FittedEncoder],
                    factors: Sequence[int], readers: dict[str, LabelReader], n_samples: int,
                    n_frames: int, scale: float, steps: int, chunk_size: int, n_saved: int,
                    seed: int, device: torch.device | str = "cpu") -> GuidedSamples:
    """Unguided samples and, for every (LVM seed, region) encoder and factor, guided twins.

    The initial noise is drawn on the CPU from `seed` (identical on every device); sampling
    and decoding run on `device`.
    """
    unet.to(device)
    autoencoder.to(device)
    generator = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n_samples, *scaler.low.shape[:1], n_frames, *scaler.low.shape[1:]),
                      generator=generator)
    groups = [(s, region, k) for (s, region) in encoders for k in factors]
    directions = torch.stack([torch.from_numpy(encoders[(s, r)].encoder.weight[k])
                              for s, r, k in groups])
    unguided = sample_code_videos(unet, schedule, x_T.to(device), None, 0.0, steps, chunk_size)
    unguided_video, unguided_labels = _decode_and_read(autoencoder, scaler, unguided, readers)
    guided = sample_code_videos(unet, schedule, x_T.repeat(len(groups), 1, 1, 1, 1).to(device),
                                directions.repeat_interleave(n_samples, dim=0).to(device),
                                scale, steps, chunk_size).unflatten(0, (len(groups), n_samples))
    first_seed = groups[0][0]
    labels: dict[str, list[np.ndarray]] = {name: [] for name in readers}
    frames = []
    for g, (s, _, _) in enumerate(groups):  # decode group by group to bound memory
        video, found = _decode_and_read(autoencoder, scaler, guided[g], readers)
        for name, value in found.items():
            labels[name].append(value)
        if s == first_seed:
            frames.append(video[:n_saved])
    return GuidedSamples(
        groups=groups,
        labels={name: np.stack(values) for name, values in labels.items()},
        unguided_labels=unguided_labels,
        latent_variance=np.stack([_factor_variance(guided[g], directions[g])
                                  for g in range(len(groups))]),
        unguided_latent_variance=np.stack([_factor_variance(unguided, d) for d in directions]),
        frame_groups=[group for group in groups if group[0] == first_seed],
        frames=np.stack(frames),
        unguided_frames=unguided_video[:n_saved],
    )


def specificity_rows(samples: GuidedSamples, encoders: dict[tuple[int, str], FittedEncoder],
                     label_names: Sequence[str]) -> list[dict[str, object]]:
    """One row per (seed, region, factor, label reader): variance ratios and specificity."""
    rows = []
    for g, (seed, region, k) in enumerate(samples.groups):
        latent_ratio = (samples.latent_variance[g].mean()
                        / samples.unguided_latent_variance[g].mean())
        for reader, labels in samples.labels.items():
            ratios = variance_ratios(labels[g], samples.unguided_labels[reader])
            rows.append({
                "seed": seed, "region": region, "factor": label_names[k], "reader": reader,
                "encoder_r2": float(encoders[(seed, region)].heldout_r2[k]),
                "latent_variance_ratio": float(latent_ratio),
                "target_ratio": float(ratios[k]),
                "other_ratio": float(np.delete(ratios, k).mean()),
                "specificity": guidance_specificity(ratios, k),
            })
    return rows


def label_readers(ds: TidyDataset, train_idx: np.ndarray, test_idx: np.ndarray,
                  pixels: int, alpha: float) -> tuple[dict[str, LabelReader], dict[str, float]]:
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


def guide_session(ds: TidyDataset, codes: np.ndarray, scaler: CodeScaler,
                  autoencoder: FrameAutoencoder, unet: SpaceTimeUNet, schedule: NoiseSchedule,
                  regions: Mapping[str, RegionLVMs], section: Mapping[str, Any],
                  device: torch.device | str = "cpu"
                  ) -> tuple[GuidedSamples, list[dict[str, Any]]]:
    """Fit the encoders and label readers of one session, generate, and score specificity.

    `codes` (n, C, T, h, w) are the session's scaled frame codes; `regions` maps each region to
    its fitted LVMs (the BeNeDiff latents of every seed are encoded).
    """
    train_idx, test_idx = ds.indices("train"), ds.indices("test")
    frame_codes = flatten_frame_codes(codes)
    encoders = {}
    for region, fitted in regions.items():
        for i, seed in enumerate(fitted.seeds):
            encoders[(seed, region)] = fit_region_encoder(
                frame_codes, fitted.latents["benediff"][i], train_idx, test_idx,
                section["encoder_ridge_alpha"])
    readers, reader_r2 = label_readers(ds, train_idx, test_idx, section["label_decoder_pixels"],
                                       section["label_decoder_alpha"])
    samples = generate_guided(
        unet, schedule, autoencoder, scaler, encoders, range(len(ds.behavior_names)), readers,
        n_samples=section["samples_per_factor"], n_frames=codes.shape[2],
        scale=section["scale"], steps=section["sampling_steps"],
        chunk_size=section["chunk_size"], n_saved=section["saved_samples"], seed=section["seed"],
        device=device)
    rows = specificity_rows(samples, encoders, ds.behavior_names)
    for row in rows:
        row["reader_r2"] = reader_r2[row["reader"]]
    return samples, rows
