"""Sinusoidal embedding of the diffusion step, shared by the LDNS and GNOCCHI denoisers."""

from __future__ import annotations

import math

import torch


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of the diffusion step (B,) → (B, dim): [cos(t·f_i), sin(t·f_i)].

    The dim/2 frequencies are f_i = 10000^(−i/(dim/2)), i = 0 … dim/2 − 1 (float32 output).
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"timestep embedding dim must be even and >= 2, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    args = t.float().unsqueeze(-1) * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)
