"""The ε-prediction training objective (Ho et al. 2020), with a mask for variable-length data.

A denoiser is any callable `denoiser(x_t, t, cond) -> ε̂` with x_t of shape (B, C, L) (or any
(B, ...) shape), t a long tensor of shape (B,) and `cond` whatever the model is conditioned on
(None when unconditional).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from neurodiff.diffusion.schedule import NoiseSchedule

Denoiser = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
LOSSES = ("mse", "smooth_l1", "l1")


def alpha_bar(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """ᾱ_t gathered per sample and shaped (B, 1, …, 1) to broadcast against `like`."""
    values = schedule.alphas_cumprod.to(device=like.device, dtype=like.dtype)[t.to(like.device)]
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(
    schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Draw from the forward process: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε."""
    a_bar = alpha_bar(schedule, t, x0)
    return a_bar.sqrt() * x0 + (1.0 - a_bar).sqrt() * noise


def predict_x0(
    schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, eps_hat: torch.Tensor
) -> torch.Tensor:
    """Invert the forward process with a noise estimate: x̂₀ = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t."""
    a_bar = alpha_bar(schedule, t, x_t)
    return (x_t - (1.0 - a_bar).sqrt() * eps_hat) / a_bar.sqrt()


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `values` over the entries where `mask` is nonzero (all entries if mask is None).

    A mask of shape (B, L) applies to every channel of (B, C, L) values; otherwise it must
    broadcast to `values`.
    """
    if mask is None:
        return values.mean()
    if mask.ndim == 2 and values.ndim == 3:
        mask = mask.unsqueeze(1)
    try:
        weights = torch.broadcast_to(mask.to(values.dtype), values.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to values of shape "
            f"{tuple(values.shape)}"
        ) from err
    total = weights.sum()
    if total <= 0:
        raise ValueError("mask selects no entries: the masked loss is undefined")
    return (values * weights).sum() / total


def elementwise_loss(
    prediction: torch.Tensor, target: torch.Tensor, loss: str, smooth_l1_beta: float
) -> torch.Tensor:
    """Unreduced regression loss: "mse", "l1" or "smooth_l1" (Huber with transition β)."""
    if loss == "mse":
        return F.mse_loss(prediction, target, reduction="none")
    if loss == "l1":
        return F.l1_loss(prediction, target, reduction="none")
    if loss == "smooth_l1":
        return F.smooth_l1_loss(prediction, target, reduction="none", beta=smooth_l1_beta)
    raise ValueError(f"loss={loss!r} is not one of {LOSSES}")


def draw_timesteps_and_noise(
    schedule: NoiseSchedule, x0: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """t ~ U{0 … T−1} per sample and ε ~ N(0, I) shaped like x0, on x0's device.

    With a generator the draws happen on the generator's device and are then moved, so the
    numbers depend only on the generator's state, not on where the model runs.
    """
    draw_device = generator.device if generator is not None else x0.device
    t = torch.randint(
        0, schedule.num_train_timesteps, (x0.shape[0],), generator=generator, device=draw_device
    )
    noise = torch.randn(x0.shape, generator=generator, device=draw_device, dtype=x0.dtype)
    return t.to(x0.device), noise.to(x0.device)


def diffusion_loss(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    cond: Any = None,
    mask: torch.Tensor | None = None,
    loss: str = "mse",
    smooth_l1_beta: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ε-objective E_{t,ε} ℓ(ε̂(x_t, t, c), ε), averaged over the unmasked entries of x0.

    LDNS uses loss="mse" (Lorenz) or "smooth_l1" with smooth_l1_beta 0.04–0.05; padded time
    bins of variable-length trials are excluded by `mask` (1 = observed).
    """
    if x0.ndim < 2:
        raise ValueError(f"x0 needs a batch dimension and data dims, got shape {tuple(x0.shape)}")
    t, noise = draw_timesteps_and_noise(schedule, x0, generator)
    x_t = q_sample(schedule, x0, t, noise)
    eps_hat = denoiser(x_t, t, cond)
    if eps_hat.shape != noise.shape:
        raise ValueError(
            f"denoiser output shape {tuple(eps_hat.shape)} != input shape {tuple(noise.shape)}"
        )
    return masked_mean(elementwise_loss(eps_hat, noise, loss, smooth_l1_beta), mask)
