"""Training and evaluation of BeNeDiff's models through the shared loop `neurodiff.train.train`.

One region-hemisphere's LVMs (every method of the comparison, every seed), the frame
autoencoder and the video diffusion model of one session. Each run lives in its own run
directory (checkpoint, final weights, metrics CSV, summary), so a restarted job resumes; the
directory records its settings and a digest of its training data
(`neurodiff.train.reset_stale_run`), so new upstream data trains afresh instead of resuming.
Neural components and labels are z-scored per channel with training-trial statistics
(authors: z-score over trials × time). Settings are those of
`neurodiff.models.benediff.settings` (raw config mappings are parsed on entry); what is hashed
into run directories and settings records is their `as_dict()`, the config mapping itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.config import config_hash
from neurodiff.data.tidy import TidyDataset
from neurodiff.diffusion import NoiseSchedule, diffusion_loss, make_schedule
from neurodiff.io import atomic_path
from neurodiff.metrics.decoding import behavior_decoding_r2, leakage_r2, r2_per_channel
from neurodiff.metrics.disentangle import (
    assigned_dims,
    gaussian_block_mi,
    gaussian_total_correlation,
    mig,
)
from neurodiff.models.benediff.build import build_frame_autoencoder, build_unet, lvm_config_for
from neurodiff.models.benediff.lvm import BehaviorLVM, LVMConfig, lvm_loss, posterior_means
from neurodiff.models.benediff.results import RegionLVMs
from neurodiff.models.benediff.settings import (
    DiffusionSettings,
    FrameAeSettings,
    LvmSettings,
    MetricsSettings,
    Section,
    TrainSettings,
    as_mapping,
)
from neurodiff.models.benediff.video import FrameAutoencoder, SpaceTimeUNet, UNetConfig
from neurodiff.train import (
    LossFn,
    data_digest,
    reset_stale_run,
    section_config,
    seed_everything,
    train_on_tensors,
)


@dataclass
class RegionData:
    """One region-hemisphere's z-scored components and labels, with the trial split."""

    region: str
    signals: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    split: np.ndarray

    def indices(self, split: str) -> np.ndarray:
        """Trial indices of one split ("train", "val", "test")."""
        return np.flatnonzero(self.split == split)


def zscore_with_train(values: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    """values (n, T, C) z-scored per channel with the (NaN-aware) training-trial statistics."""
    mean = np.nanmean(values[train_idx], axis=(0, 1))
    std = np.nanstd(values[train_idx], axis=(0, 1))
    if np.any(~np.isfinite(std) | (std == 0)):
        bad = np.flatnonzero(~np.isfinite(std) | (std == 0)).tolist()
        raise ValueError(f"channels {bad} are constant or unobserved in the training trials")
    return ((values - mean) / std).astype(np.float32)


def region_data(ds: TidyDataset, region: str) -> RegionData:
    """Select one region's components (channels/region) and z-score components and labels."""
    if "region" not in ds.channels:
        raise ValueError(f"{ds.name}: channels/region is missing; cannot select {region!r}")
    columns = ds.channels["region"] == region
    if not columns.any():
        raise ValueError(
            f"{ds.name}: no components of region {region!r}; present: "
            f"{sorted(set(ds.channels['region'].tolist()))}"
        )
    if ds.behavior is None:
        raise ValueError(f"{ds.name}: no behaviour labels; BeNeDiff needs them")
    train_idx = ds.indices("train")
    return RegionData(
        region,
        zscore_with_train(ds.signals[..., columns], train_idx),
        zscore_with_train(ds.behavior, train_idx),
        list(ds.behavior_names),
        ds.split,
    )


Model = TypeVar("Model", bound=nn.Module)


def _fit(
    model: Model,
    loss_fn: LossFn,
    tensors: list[torch.Tensor],
    train: TrainSettings,
    seed: int,
    run_dir: str | Path,
    device: str,
    desc: str,
) -> Model:
    """Train (or resume) `model` on `tensors` with Adam as the `train:` block says; on the CPU."""
    result = train_on_tensors(
        model,
        loss_fn,
        tensors,
        min(train.batch_size, len(tensors[0])),
        lambda params: torch.optim.Adam(params, lr=train.lr),
        section_config(train.as_dict(), seed, device=device, desc=desc),
        run_dir,
    )
    return result.model.cpu()


def train_lvm(
    data: RegionData,
    config: LVMConfig,
    train_section: TrainSettings | Mapping[str, Any],
    seed: int,
    run_dir: str | Path,
    device: str = "auto",
) -> BehaviorLVM:
    """Train (or resume) one LVM on the training trials; returns it on the CPU."""
    train = TrainSettings.of(train_section, "benediff.lvm.train")
    train_idx = data.indices("train")
    x = torch.from_numpy(data.signals[train_idx])
    y = torch.from_numpy(data.labels[train_idx])
    dataset_size = x.shape[0] * x.shape[1]
    reset_stale_run(
        run_dir,
        {
            "seed": seed,
            "lvm": asdict(config),
            "train": train.as_dict(),
            "data": data_digest(x, y),
        },
    )
    seed_everything(seed)
    return _fit(
        BehaviorLVM(config),
        lambda m, batch, step: lvm_loss(m, batch[0], batch[1], dataset_size),
        [x, y],
        train,
        seed,
        run_dir,
        device,
        f"lvm {data.region} seed {seed}",
    )


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Rows (first axis) where every array is finite."""
    return np.all([np.isfinite(a).all(axis=1) for a in arrays], axis=0)


def evaluate_lvm(
    model: BehaviorLVM, data: RegionData, mig_bins: int, ridge_alpha: float
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Posterior-mean pass over all trials and the metrics of reference/benediff.md §4.

    Neural R²: held-out (test) trials, per component, averaged. Behaviour R²: ridge decoder
    from the latent means, fitted on training trials, scored on test trials. MIG: latent means
    against the labels over the (trial, time) samples of all trials (more samples make the
    binned mutual information less biased), equal-frequency bins. Leakage: the same decoder
    from the unsupervised dims only (those not standing for a label, `label_dims`); Gaussian
    TC of the test-trial latent means and Gaussian MI between label and unsupervised dims
    (`neurodiff.metrics.decoding`, `neurodiff.metrics.disentangle`).
    """
    outputs = {
        k: v.numpy() for k, v in posterior_means(model, torch.from_numpy(data.signals)).items()
    }
    train_idx, test_idx = data.indices("train"), data.indices("test")
    neural = r2_per_channel(data.signals[test_idx], outputs["reconstruction"][test_idx])
    labelled = np.isfinite(data.labels).all(axis=(1, 2))
    behavior = behavior_decoding_r2(
        outputs["latents"],
        data.labels,
        train_idx[labelled[train_idx]],
        test_idx[labelled[test_idx]],
        alpha=ridge_alpha,
    )
    codes = outputs["latents"].reshape(-1, outputs["latents"].shape[-1])
    labels = data.labels.reshape(-1, data.labels.shape[-1])
    rows = _finite_rows(codes, labels)
    metrics = {
        "neural_r2": float(neural.mean()),
        "behavior_r2": float(behavior.mean()),
        "mig": mig(codes[rows], labels[rows], n_bins=mig_bins),
    }
    metrics |= {
        f"behavior_r2__{name}": float(r2)
        for name, r2 in zip(data.label_names, behavior, strict=True)
    }
    tied = label_dims(model, outputs["latents"], data, mig_bins)
    unsupervised = np.setdiff1d(np.arange(model.config.n_latent), tied)
    leak = leakage_r2(
        outputs["latents"],
        data.labels,
        unsupervised,
        train_idx[labelled[train_idx]],
        test_idx[labelled[test_idx]],
        alpha=ridge_alpha,
    )
    held_out = outputs["latents"][test_idx]
    metrics |= {
        "leakage_r2": float(leak.mean()),
        "gaussian_tc": gaussian_total_correlation(held_out),
        "cross_block_mi": gaussian_block_mi(held_out, np.unique(tied)),
    }
    metrics |= {
        f"leakage_r2__{name}": float(r2) for name, r2 in zip(data.label_names, leak, strict=True)
    }
    return outputs, metrics


def label_dims(
    model: BehaviorLVM, latents: np.ndarray, data: RegionData, n_bins: int
) -> np.ndarray:
    """The latent dim standing for each label: the tied dim of a supervised model; for an
    unsupervised one the dim of largest binned MI with the label on training trials."""
    if model.config.supervised:
        return np.arange(model.config.n_behavior)
    train_idx = data.indices("train")
    return assigned_dims(latents[train_idx], data.labels[train_idx], n_bins)


def train_frame_autoencoder(
    video: np.ndarray,
    section: FrameAeSettings | Mapping[str, Any],
    seed: int,
    run_dir: str | Path,
    device: str = "auto",
) -> FrameAutoencoder:
    """Train (or resume) the frame autoencoder on uint8 videos (n, T, V, H, W).

    Loss: binary cross-entropy of the sigmoid output against pixel intensities in [0, 1],
    which, unlike the squared error, keeps small bright objects (the paw) from being averaged
    away early in training.
    """
    if video.ndim != 5 or video.shape[-1] != video.shape[-2]:
        raise ValueError(f"video must be (trials, T, views, H, H), got {video.shape}")
    settings = FrameAeSettings.of(section)
    frames = torch.from_numpy(np.ascontiguousarray(video.reshape(-1, *video.shape[2:])))
    reset_stale_run(
        run_dir, {"seed": seed, "section": settings.as_dict(), "data": data_digest(frames)}
    )
    seed_everything(seed)
    model = build_frame_autoencoder(settings, video.shape[2], video.shape[-1])

    def loss_fn(m: FrameAutoencoder, batch: tuple[torch.Tensor], step: int):
        target = batch[0].float() / 255.0
        return F.binary_cross_entropy(m(target), target), {}

    return _fit(
        model, loss_fn, [frames], settings.train, seed, run_dir, device, "frame autoencoder"
    )


def build_schedule(section: DiffusionSettings | Mapping[str, Any]) -> NoiseSchedule:
    """The noise schedule of the `benediff.diffusion` settings (codes live in [−1, 1])."""
    sched = DiffusionSettings.of(section).schedule
    return make_schedule(
        num_train_timesteps=sched.num_train_timesteps,
        beta_schedule=sched.beta_schedule,
        clip_sample=sched.clip_sample,
        clip_range=1.0,
    )


def train_video_diffusion(
    codes: np.ndarray,
    section: DiffusionSettings | Mapping[str, Any],
    seed: int,
    run_dir: str | Path,
    device: str = "auto",
) -> SpaceTimeUNet:
    """Train (or resume) the ε-prediction U-Net on scaled code videos (n, C, T, h, w)."""
    settings = DiffusionSettings.of(section)
    x0 = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float32))
    reset_stale_run(run_dir, {"seed": seed, "section": settings.as_dict(), "data": data_digest(x0)})
    seed_everything(seed)
    model = build_unet(settings, tuple(codes.shape[1:2]) + tuple(codes.shape[3:]))
    schedule = build_schedule(settings)

    def loss_fn(m: SpaceTimeUNet, batch: tuple[torch.Tensor], step: int):
        return diffusion_loss(m, schedule, batch[0], loss=settings.loss), {}

    return _fit(model, loss_fn, [x0], settings.train, seed, run_dir, device, "video diffusion")


def fit_region_lvms(
    ds: TidyDataset,
    region: str,
    lvm_section: LvmSettings | Mapping[str, Any],
    metrics_section: MetricsSettings | Mapping[str, Any],
    seeds: list[int] | tuple[int, ...],
    run_root: str | Path,
    device: str = "auto",
) -> RegionLVMs:
    """Train and evaluate every configured method × seed for one region of one session.

    Runs live in `run_root/<method>_seed<seed>_<config hash>`, so a changed configuration
    starts fresh runs instead of resuming incompatible checkpoints.
    """
    lvm, metrics = LvmSettings.of(lvm_section), MetricsSettings.of(metrics_section)
    data = region_data(ds, region)
    n_channels, n_labels = data.signals.shape[-1], data.labels.shape[-1]
    fitted = RegionLVMs(
        region,
        data.label_names,
        data.split,
        data.signals,
        data.labels,
        list(seeds),
        {},
        {},
        {},
        {},
        [],
    )
    for method in lvm.methods:
        config = lvm_config_for(lvm, method, n_channels, n_labels)
        tag = config_hash({"lvm": asdict(config), "train": lvm.train.as_dict()})
        latents, gains = [], []
        for i, seed in enumerate(seeds):
            run_dir = Path(run_root) / f"{method}_seed{seed}_{tag}"
            model = train_lvm(data, config, lvm.train, seed, run_dir, device)
            outputs, scores = evaluate_lvm(
                model, data, metrics.mig_bins, metrics.decoder_ridge_alpha
            )
            fitted.metrics.append({"region": region, "method": method, "seed": seed, **scores})
            latents.append(outputs["latents"])
            gains.append(model.behavior_gain.detach().numpy())
            if i == 0:
                fitted.reconstruction[method] = outputs["reconstruction"]
                fitted.behavior[method] = outputs["behavior"]
        fitted.latents[method] = np.stack(latents)
        fitted.gains[method] = np.stack(gains)
    return fitted


def run_dir_for(root: str | Path, name: str, settings: Mapping[str, Any]) -> Path:
    """`root/<name>_<hash of settings>`: a changed configuration trains in a fresh directory."""
    return Path(root) / f"{name}_{config_hash(dict(settings))}"


def model_run_dir(
    model_path: str | Path,
    kind: str,
    section: Section | Mapping[str, Any],
    seed: int,
    shape: tuple[int, ...] | list[int],
) -> Path:
    """The run directory of a model written to `model_path`: `runs/<kind>_<hash>` beside it,
    hashed over the training settings (`as_dict()` of typed ones), the seed and the training
    data's per-sample shape."""
    settings = {**as_mapping(section), "seed": seed, "shape": list(shape)}
    return run_dir_for(Path(model_path).parent / "runs", kind, settings)


def save_frame_autoencoder(
    path: str | Path, model: FrameAutoencoder, section: FrameAeSettings | Mapping[str, Any]
) -> None:
    """Write the autoencoder's weights with what is needed to rebuild it, atomically."""
    settings = FrameAeSettings.of(section)
    payload = {
        "kind": "frame_autoencoder",
        "n_views": model.n_views,
        "frame_size": model.frame_size,
        "channels": list(settings.channels),
        "latent_channels": settings.latent_channels,
        "state_dict": model.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_frame_autoencoder(path: str | Path) -> FrameAutoencoder:
    """Rebuild a frame autoencoder written by `save_frame_autoencoder`."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("kind") != "frame_autoencoder":
        raise ValueError(f"{path} does not hold a frame autoencoder (kind={payload.get('kind')})")
    model = FrameAutoencoder(
        payload["n_views"], payload["frame_size"], payload["channels"], payload["latent_channels"]
    )
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def save_video_diffusion(path: str | Path, model: SpaceTimeUNet, schedule: NoiseSchedule) -> None:
    """Write the U-Net's weights, its config and the noise schedule, atomically."""
    payload = {
        "kind": "video_diffusion",
        "unet": asdict(model.config),
        "schedule": schedule.to_dict(),
        "state_dict": model.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_video_diffusion(path: str | Path) -> tuple[SpaceTimeUNet, NoiseSchedule]:
    """Rebuild the U-Net and schedule written by `save_video_diffusion`."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("kind") != "video_diffusion":
        raise ValueError(
            f"{path} does not hold a video diffusion model (kind={payload.get('kind')})"
        )
    unet_config = {**payload["unet"], "dim_mults": tuple(payload["unet"]["dim_mults"])}
    model = SpaceTimeUNet(UNetConfig(**unet_config))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), NoiseSchedule(**payload["schedule"])
