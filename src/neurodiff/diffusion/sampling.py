"""Samplers: ancestral DDPM, DDIM, reverse DDIM (x₀ → x_T), and gradient guidance.

The step arithmetic is diffusers' (DDPMScheduler, DDIMScheduler, DDIMInverseScheduler); this
module runs the loops, calls the denoiser `denoiser(x_t, t, cond) -> ε̂` and applies guidance.

Guidance (classifier-style, Dhariwal & Nichol 2021, Alg. 2). A hook `guidance(x_t, t, x̂₀) -> g`
returns a direction g shaped like x_t, read as an estimate of ∇_{x_t} log p(y | x_t). With weight
w the noise estimate handed to the scheduler is

    ε̃ = ε̂ − w·√(1 − ᾱ_t)·g,

which is the same as adding w·g to the score ∇ log p(x_t) = −ε̂/√(1 − ᾱ_t). For DDPM the
posterior mean moves by w·β_t/√α_t·g; for DDIM both x̂₀ and the direction term use ε̃.
`objective_guidance(J)` builds the usual hook: g = ∇_{x̂₀} J(x̂₀), the gradient of a
differentiable objective on the predicted clean sample (BeNeDiff §3.4: evaluated on x̂₀, no
backpropagation through the denoiser). Everything runs under `torch.no_grad` except that
gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor

from neurodiff.diffusion.objective import Denoiser, alpha_bar, predict_x0
from neurodiff.diffusion.schedule import NoiseSchedule

Guidance = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def objective_guidance(objective: Callable[[torch.Tensor], torch.Tensor]) -> Guidance:
    """Guidance hook g = ∇_{x̂₀} Σ_b J(x̂₀)_b for an objective J (per sample or scalar)."""

    def hook(x_t: torch.Tensor, t: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x0 = x0_hat.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(x0).sum(), x0)
        return grad

    return hook


@contextlib.contextmanager
def _eval_mode(denoiser: Denoiser) -> Iterator[None]:
    """Put an nn.Module denoiser in eval mode (no dropout) for the block, then restore it."""
    if not isinstance(denoiser, torch.nn.Module):
        yield
        return
    was_training = denoiser.training
    denoiser.eval()
    try:
        yield
    finally:
        denoiser.train(was_training)


def _resolve_device(denoiser: Denoiser, device: torch.device | str | None) -> torch.device:
    """The explicit device, else the denoiser's parameter device, else the CPU."""
    if device is not None:
        return torch.device(device)
    if isinstance(denoiser, torch.nn.Module):
        first = next(denoiser.parameters(), None)
        if first is not None:
            return first.device
    return torch.device("cpu")


def _guided_eps(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    cond: Any,
    guidance: Guidance | None,
    guidance_scale: float,
) -> torch.Tensor:
    """ε̂(x_t, t, c), shifted by the guidance direction when a hook is given (module docstring)."""
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    eps = denoiser(x_t, t_batch, cond)
    if eps.shape != x_t.shape:
        raise ValueError(
            f"denoiser output shape {tuple(eps.shape)} != x_t shape {tuple(x_t.shape)}"
        )
    if guidance is None or guidance_scale == 0.0:
        return eps
    direction = guidance(x_t, t_batch, predict_x0(schedule, x_t, t_batch, eps))
    if direction.shape != x_t.shape:
        raise ValueError(
            f"guidance returned shape {tuple(direction.shape)}, expected {tuple(x_t.shape)}"
        )
    return eps - guidance_scale * (1.0 - alpha_bar(schedule, t_batch, x_t)).sqrt() * direction


def _initial_noise(
    shape: tuple[int, ...],
    x_T: torch.Tensor | None,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """x_T: the given tensor (checked against `shape`) or N(0, I) drawn from `generator`."""
    if x_T is None:
        return randn_tensor(tuple(shape), generator=generator, device=device, dtype=torch.float32)
    if tuple(x_T.shape) != tuple(shape):
        raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
    return x_T.to(device)


@torch.no_grad()
def ddpm_sample(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    cond: Any = None,
    num_inference_steps: int | None = None,
    generator: torch.Generator | None = None,
    guidance: Guidance | None = None,
    guidance_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Ancestral DDPM sampling from x_T ~ N(0, I); all T steps unless `num_inference_steps`."""
    scheduler = schedule.ddpm()
    scheduler.set_timesteps(num_inference_steps or schedule.num_train_timesteps)
    x = _initial_noise(shape, None, generator, _resolve_device(denoiser, device))
    with _eval_mode(denoiser):
        for t in scheduler.timesteps.tolist():
            eps = _guided_eps(denoiser, schedule, x, t, cond, guidance, guidance_scale)
            x = scheduler.step(eps, t, x, generator=generator).prev_sample
    return x


@torch.no_grad()
def ddim_sample(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    cond: Any = None,
    num_inference_steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    guidance: Guidance | None = None,
    guidance_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """DDIM sampling (eta = 0: deterministic given x_T); starts from `x_T` when given."""
    scheduler = schedule.ddim()
    scheduler.set_timesteps(num_inference_steps)
    x = _initial_noise(shape, x_T, generator, _resolve_device(denoiser, device))
    with _eval_mode(denoiser):
        for t in scheduler.timesteps.tolist():
            eps = _guided_eps(denoiser, schedule, x, t, cond, guidance, guidance_scale)
            x = scheduler.step(eps, t, x, eta=eta, generator=generator).prev_sample
    return x


@torch.no_grad()
def ddim_invert(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    cond: Any = None,
    num_inference_steps: int = 50,
) -> torch.Tensor:
    """Reverse DDIM: map x₀ deterministically to x_T, conditioned on `cond`.

    Mirrors `ddim_sample(eta=0)` on the same timesteps: each step from level t_{i−1} to t_i uses
    ε̂(x_{t_{i−1}}, t_i, cond). Unlike the public InfoDiffusion code the code `cond` is passed
    to the denoiser at every step, so decoding x_T with the same code returns ≈ x₀.
    """
    scheduler = schedule.ddim_inverse()
    scheduler.set_timesteps(num_inference_steps)
    x = x0
    with _eval_mode(denoiser):
        for t in scheduler.timesteps.tolist():
            eps = _guided_eps(denoiser, schedule, x, t, cond, None, 0.0)
            x = scheduler.step(eps, t, x).prev_sample
    return x
