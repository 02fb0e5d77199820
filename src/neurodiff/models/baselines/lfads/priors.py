"""LFADS priors: diagonal-Gaussian KL, reparameterised sampling and the KL/L2 warm-up ramp."""

from __future__ import annotations

import torch


def kl_diag_gaussians(
    mean: torch.Tensor,
    logvar: torch.Tensor,
    prior_mean: torch.Tensor | float,
    prior_logvar: torch.Tensor | float,
) -> torch.Tensor:
    """Elementwise KL(N(mean, e^logvar) ‖ N(prior_mean, e^prior_logvar))."""
    prior_mean = torch.as_tensor(prior_mean, dtype=mean.dtype, device=mean.device)
    prior_logvar = torch.as_tensor(prior_logvar, dtype=mean.dtype, device=mean.device)
    ratio = torch.exp(logvar - prior_logvar)
    return 0.5 * (ratio + (mean - prior_mean) ** 2 / torch.exp(prior_logvar) - 1 - torch.log(ratio))


def ramp_weight(step: int, start: int, n_steps: int) -> float:
    """Linear warm-up 0 → 1 over `n_steps` steps after `start` (1 at once if n_steps is 0)."""
    if n_steps == 0:
        return float(step >= start)
    return min(1.0, max(0.0, (step - start) / n_steps))


def reparameterise(
    mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A sample mean + σ·ε with ε ~ N(0, I)."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps
