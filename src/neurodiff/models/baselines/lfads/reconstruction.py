"""LFADS reconstruction: the Poisson observation model and coordinated dropout of its inputs."""

from __future__ import annotations

import torch


def poisson_nll(log_rates: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Elementwise Poisson negative log-likelihood −log p(counts | exp(log_rates)), full form."""
    return torch.exp(log_rates) - counts * log_rates + torch.lgamma(counts + 1)


def coordinated_dropout(
    spikes: torch.Tensor, rate: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, keep): entries zeroed with probability `rate`, kept ones scaled by 1/(1 − rate)."""
    keep = torch.rand(spikes.shape, generator=generator, device=spikes.device) >= rate
    return spikes * keep / (1.0 - rate), keep
