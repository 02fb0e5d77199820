"""Training the LDNS models through the shared loop: autoencoder, latent denoiser, spike history.

Arrays from tidy files are (trials, time, channels); the networks take (batch, channels, time).
Every run goes through `neurodiff.train.train` (atomic checkpoints, resume, metrics CSV). A run
directory remembers the settings and a digest of the training data it was started with
(`neurodiff.train.reset_stale_run`); when either changes, the checkpoint is moved aside (and
moved back when those settings return) so that a resumed run never mixes two configurations
or two datasets, and no trained checkpoint is lost.

Autoencoder checkpoint choice: with `checkpoint: best_val` the weights with the lowest
validation Poisson NLL seen at the evaluation rows are kept by the training loop, in its
checkpoint (so a restarted run selects exactly what an uninterrupted one does; LDNS chose
epoch 140 of 260 for MC_Maze this way, from a validation row every epoch); with `last` the
final weights are used. Training lengths are in optimizer steps (`settings.steps`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch import nn

from neurodiff.diffusion import NoiseSchedule, diffusion_loss, make_schedule
from neurodiff.io import atomic_path
from neurodiff.models.ldns.autoencoder import S4Autoencoder, autoencoder_loss
from neurodiff.models.ldns.denoiser import CHECKPOINT_FORMAT, LatentDenoiser
from neurodiff.models.ldns.settings import (
    AutoencoderSettings,
    DenoiserSettings,
    DiffusionSettings,
    LFADSSettings,
    OptimSettings,
    SpikeHistorySettings,
    from_mapping,
)
from neurodiff.models.ldns.spike_history import SpikeHistoryGLM, history_nll
from neurodiff.train import (
    EMASettings,
    EvalFn,
    LossFn,
    RunPaths,
    TrainConfig,
    TrainResult,
    data_digest,
    full_batches,
    load_trained,
    reset_stale_run,
    seed_everything,
    steps_config,
    train,
    train_on_tensors,
)

ENCODE_BATCH = 256
VELOCITY_CHANNELS = 2  # hand velocity (x, y): the extra inputs of a velocity-conditioned denoiser


def channels_first(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(trials, time, channels) array → float32 tensor (trials, channels, time)."""
    return torch.as_tensor(np.asarray(x), dtype=torch.float32).transpose(1, 2).contiguous()


def channels_last(x: torch.Tensor) -> np.ndarray:
    """(trials, channels, time) tensor → float32 array (trials, time, channels)."""
    return x.detach().cpu().transpose(1, 2).numpy().astype(np.float32)


def optimizer_and_schedule(
    optim: OptimSettings, betas: tuple[float, float] = (0.9, 0.999)
) -> tuple[Any, Any, int]:
    """(make_optimizer, make_scheduler, total_steps): AdamW, warm-up then cosine to the horizon.

    The cosine runs over lr_horizon × total_steps (diffusers' `get_scheduler("cosine")`), so
    with a horizon above 1 the learning rate never reaches 0, as in LDNS.
    """
    total, warmup = optim.steps, optim.warmup_steps
    horizon = max(math.ceil(optim.lr_horizon * total), warmup + 1)

    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay, betas=betas)

    def make_scheduler(optimizer: torch.optim.Optimizer) -> Any:
        return get_cosine_schedule_with_warmup(optimizer, warmup, horizon)

    return make_optimizer, make_scheduler, total


def run_config(
    settings: OptimSettings | LFADSSettings,
    per_pass: int,
    seed: int,
    device: str,
    progress: bool,
    desc: str,
    **fields: Any,
) -> TrainConfig:
    """TrainConfig of an LDNS run: `settings.steps` steps, its grad_clip, log rows every
    max(one pass of `per_pass` batches, total / 20, at most 100) steps unless `fields` give
    `log_every`."""
    return steps_config(
        settings.steps,
        per_pass,
        seed,
        log_cap=100,
        grad_clip=settings.grad_clip,
        device=device,
        progress=progress,
        desc=desc,
        **fields,
    )


def train_scheduled(
    model: nn.Module,
    loss_fn: LossFn,
    tensors: list[torch.Tensor],
    settings: OptimSettings,
    run_dir: Path,
    seed: int,
    device: str,
    progress: bool,
    desc: str,
    eval_fn: EvalFn | None = None,
    where: str = "ldns",
    **fields: Any,
) -> TrainResult:
    """Train on minibatches of `tensors` with `settings`' AdamW and warm-up cosine schedule
    (`where`: the config key named when the batch is larger than the training split)."""
    make_optimizer, make_scheduler, _ = optimizer_and_schedule(settings)
    per_pass = full_batches(len(tensors[0]), settings.batch_size, where)
    return train_on_tensors(
        model,
        loss_fn,
        tensors,
        settings.batch_size,
        make_optimizer,
        run_config(settings, per_pass, seed, device, progress, desc, **fields),
        run_dir,
        make_scheduler,
        eval_fn,
    )


# ---------------------------------------------------------------------------------------------
# Autoencoder


@dataclass
class AutoencoderFit:
    """The selected autoencoder, the step it comes from and its validation Poisson NLL."""

    model: S4Autoencoder
    step: int
    val_poisson: float
    history: list[dict[str, float]]


@torch.no_grad()
def poisson_nll(model: S4Autoencoder, spikes: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean Poisson NLL per observed entry of (B, C, L) spikes (on any device), no dropout."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # on a GPU during training, on the CPU after
    total, count = 0.0, 0.0
    for start in range(0, spikes.shape[0], ENCODE_BATCH):
        x = spikes[start : start + ENCODE_BATCH].to(device)
        m = mask[start : start + ENCODE_BATCH].to(device)
        rates, _ = model(x)
        nll = F.poisson_nll_loss(rates, x, log_input=False, full=True, reduction="none")
        total += float((nll * m.unsqueeze(1)).sum())
        count += float(m.sum()) * x.shape[1]
    model.train(was_training)
    return total / count


def train_autoencoder(
    spikes: np.ndarray,
    mask: np.ndarray,
    val_spikes: np.ndarray,
    val_mask: np.ndarray,
    settings: AutoencoderSettings,
    run_dir: str | Path,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> AutoencoderFit:
    """Train the S4 autoencoder on (trials, time, channels) counts; masks are (trials, time)."""
    run_dir = Path(run_dir)
    reset_stale_run(
        run_dir,
        {
            "seed": seed,
            "n_train": len(spikes),
            **asdict(settings),
            "data": data_digest(spikes, mask, val_spikes, val_mask),
        },
    )
    train_x, train_m = channels_first(spikes), torch.as_tensor(mask, dtype=torch.float32)
    val = (channels_first(val_spikes), torch.as_tensor(val_mask, dtype=torch.float32))
    seed_everything(seed)
    model = S4Autoencoder(**settings.architecture(train_x.shape[1]))

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, ...], step: int) -> Any:
        x, m = batch
        parts = autoencoder_loss(
            net, x, settings.cd_p, settings.latent_beta, settings.td_beta, mask=m
        )
        return parts.total, {
            "poisson": parts.poisson,
            "latent_l2": parts.latent_l2,
            "latent_smoothness": parts.latent_smoothness,
        }

    result = train_scheduled(
        model,
        loss_fn,
        [train_x, train_m],
        settings,
        run_dir,
        seed,
        device,
        progress,
        "LDNS autoencoder",
        eval_fn=lambda net, step: {"val_poisson": poisson_nll(net, *val)},
        where="ldns.autoencoder",
        log_every=settings.log_every,
        best_metric="val_poisson" if settings.checkpoint == "best_val" else None,
    )
    model = result.model.cpu().eval()
    if result.best is not None:
        model.load_state_dict(result.best.state_dict)
        return AutoencoderFit(model, result.best.step, result.best.value, result.history)
    return AutoencoderFit(model, settings.steps, poisson_nll(model, *val), result.history)


def save_autoencoder(path: str | Path, fit: AutoencoderFit, architecture: dict[str, Any]) -> None:
    """Write the selected weights with the architecture needed to rebuild them, atomically."""
    with atomic_path(path) as tmp:
        torch.save(
            {
                "architecture": architecture,
                "model": fit.model.state_dict(),
                "step": fit.step,
                "val_poisson": fit.val_poisson,
            },
            tmp,
        )


def load_autoencoder(path: str | Path) -> S4Autoencoder:
    """Rebuild a saved autoencoder (eval mode, CPU)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if "architecture" not in payload:
        raise ValueError(f"{path}: not an LDNS autoencoder file (no 'architecture' key)")
    model = S4Autoencoder(**payload["architecture"])
    model.load_state_dict(payload["model"])
    return model.eval()


@torch.no_grad()
def encode(model: S4Autoencoder, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(latents (trials, d, time), rates (trials, time, channels)) of count arrays."""
    model.eval()
    x = channels_first(spikes)
    latents, rates = [], []
    for start in range(0, x.shape[0], ENCODE_BATCH):
        r, z = model(x[start : start + ENCODE_BATCH])
        latents.append(z.numpy())
        rates.append(channels_last(r))
    return np.concatenate(latents).astype(np.float32), np.concatenate(rates)


# ---------------------------------------------------------------------------------------------
# Denoiser


def build_denoiser(
    settings: DenoiserSettings, latent_channels: int, velocity_channels: int = 0
) -> LatentDenoiser:
    """The latent denoiser of one diffusion model (always bidirectional, as in LDNS)."""
    return LatentDenoiser(
        latent_channels=latent_channels,
        hidden_channels=settings.hidden_channels,
        num_blocks=settings.num_blocks,
        bidirectional=True,
        d_state=settings.d_state,
        angle_conditioned=settings.conditioning == "angle",
        velocity_channels=velocity_channels if settings.conditioning == "velocity" else 0,
        masked=settings.conditioning == "length",
        output_init_scale=settings.output_init_scale,
    )


def diffusion_schedule(section: Mapping[str, Any]) -> NoiseSchedule:
    """The noise schedule of the `ldns.diffusion` config section (shared by every denoiser)."""
    return make_schedule(**asdict(from_mapping(DiffusionSettings, section, "ldns.diffusion")))


@dataclass
class DenoiserInputs:
    """Training set of a denoiser: clean latents x0 (n, d, L), conditions, loss mask (n, 1, L)."""

    x0: torch.Tensor
    cond: dict[str, torch.Tensor]
    mask: torch.Tensor | None = None

    def tensors(self) -> list[torch.Tensor]:
        """x0, then the conditions in key order (the rows EpochBatches draws together)."""
        return [self.x0, *self.cond.values()]

    def unpack(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict, Any]:
        """(x0, cond or None, loss mask or None) of one batch drawn from `tensors()`."""
        cond = dict(zip(self.cond, batch[1:], strict=True))
        return batch[0], (cond or None), cond.get("mask")


def train_denoiser(
    inputs: DenoiserInputs,
    settings: DenoiserSettings,
    schedule: NoiseSchedule,
    run_dir: str | Path,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> LatentDenoiser:
    """Train the ε-prediction denoiser with EMA; returns the EMA model (eval mode, CPU)."""
    run_dir = Path(run_dir)
    velocity = inputs.cond.get("velocity")
    velocity_channels = 0 if velocity is None else velocity.shape[1]
    reset_stale_run(
        run_dir,
        {
            "seed": seed,
            "n_train": len(inputs.x0),
            "shape": list(inputs.x0.shape),
            **asdict(settings),
            "schedule": schedule.to_dict(),
            "data": data_digest(*inputs.tensors()),
            "format": CHECKPOINT_FORMAT,
        },
    )
    seed_everything(seed)
    model = build_denoiser(settings, inputs.x0.shape[1], velocity_channels)

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, ...], step: int) -> Any:
        x0, cond, mask = inputs.unpack(batch)
        loss = diffusion_loss(net, schedule, x0, cond, mask, **settings.loss_kwargs())
        return loss, {}

    ema = EMASettings(
        max_decay=settings.ema_max_decay, min_decay=settings.ema_min_decay, power=settings.ema_power
    )
    result = train_scheduled(
        model,
        loss_fn,
        inputs.tensors(),
        settings,
        run_dir,
        seed,
        device,
        progress,
        f"LDNS denoiser ({settings.conditioning})",
        where="ldns.denoiser",
        ema=ema,
    )
    return result.ema_model.cpu().eval()


def load_sampling_models(
    denoiser_path: str | Path,
    autoencoder_path: str | Path,
    settings: DenoiserSettings,
    latent_channels: int,
    device: torch.device | str,
) -> tuple[LatentDenoiser, S4Autoencoder]:
    """The trained denoiser (EMA weights, eval mode) and its autoencoder, both on `device`."""
    denoiser = load_denoiser(denoiser_path, settings, latent_channels, device)
    autoencoder = load_autoencoder(autoencoder_path).to(device)
    return denoiser, autoencoder


def load_denoiser(
    path: str | Path, settings: DenoiserSettings, latent_channels: int, device: torch.device | str
) -> LatentDenoiser:
    """A trained denoiser with its EMA weights, in eval mode on `device`."""
    denoiser = build_denoiser(settings, latent_channels, VELOCITY_CHANNELS)
    return load_trained(path, denoiser, use_ema=True).eval().to(device)


# ---------------------------------------------------------------------------------------------
# Spike-history GLM


def train_spike_history(
    spikes: np.ndarray,
    rates: np.ndarray,
    settings: SpikeHistorySettings,
    run_dir: str | Path,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> SpikeHistoryGLM:
    """Fit the per-neuron spike-history GLM on (trials, time, neurons) counts and rates.

    Full-batch AdamW on the Poisson NLL of the bins with full history (`history_nll`) for
    `steps` steps, counts clipped at `clip`: the objective of `fit_spike_history`, run through
    the shared loop for logs and resume.
    """
    run_dir = Path(run_dir)
    reset_stale_run(
        run_dir,
        {
            "seed": seed,
            "shape": list(np.shape(spikes)),
            **asdict(settings),
            "data": data_digest(spikes, rates),
            "objective": "poisson_nll_full_history_bins",
        },
    )
    x = channels_first(spikes).clamp_max(settings.clip)
    r = channels_first(rates)
    seed_everything(seed)
    model = SpikeHistoryGLM(x.shape[1], settings.history_bins)

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, ...], step: int) -> Any:
        counts, drive = batch
        return history_nll(net, counts, drive), {}

    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)

    config = TrainConfig(
        total_steps=settings.steps,
        seed=seed,
        device=device,
        log_every=max(settings.steps // 20, 1),
        checkpoint_every=max(settings.steps // 5, 1),
        progress=progress,
        desc="spike-history GLM",
    )
    result = train(
        model, loss_fn, lambda step, gen: (x, r), make_optimizer, config, RunPaths.in_dir(run_dir)
    )
    return result.model.cpu().eval()
