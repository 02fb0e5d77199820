"""Noise schedules: one description of β_t, turned into diffusers schedulers on demand.

The forward process is q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) with ᾱ_t = ∏_{s≤t} (1 − β_s),
t = 0 … T−1 (diffusers' indexing). diffusers does the β arithmetic and the sampler steps; this
module only fixes the options every paper shares (ε-prediction, no clipping unless asked).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler, DDPMScheduler

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


@dataclass(frozen=True)
class NoiseSchedule:
    """β schedule of a DDPM with ε-prediction (LDNS: 1000 linear steps, β 1e-4 → 0.02).

    `beta_schedule="squaredcos_cap_v2"` is the cosine schedule (BeNeDiff); `clip_sample` clips
    the predicted x̂₀ to [−clip_range, clip_range] while sampling (BeNeDiff's [−1, 1] data).
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    clip_sample: bool = False
    clip_range: float = 1.0

    def __post_init__(self) -> None:
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule={self.beta_schedule!r} is not one of {BETA_SCHEDULES}")
        if self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps={self.num_train_timesteps} must be >= 2")
        if not 0.0 < self.beta_start < self.beta_end < 1.0:
            raise ValueError(
                f"need 0 < beta_start < beta_end < 1, got beta_start={self.beta_start}, "
                f"beta_end={self.beta_end}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The schedule as plain values (for configs and checkpoints)."""
        return asdict(self)

    def _scheduler_kwargs(self) -> dict[str, Any]:
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_schedule": self.beta_schedule,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "clip_sample": self.clip_sample,
            "clip_sample_range": self.clip_range,
            "prediction_type": "epsilon",
        }

    def ddpm(self) -> DDPMScheduler:
        """A fresh ancestral DDPM scheduler (variance β̃_t, "fixed_small")."""
        return DDPMScheduler(**self._scheduler_kwargs(), variance_type="fixed_small")

    def ddim(self) -> DDIMScheduler:
        """A fresh DDIM scheduler whose last step lands on ᾱ = 1 (the clean data)."""
        return DDIMScheduler(**self._scheduler_kwargs(), set_alpha_to_one=True)

    def ddim_inverse(self) -> DDIMInverseScheduler:
        """A fresh reverse-DDIM scheduler: the exact mirror of `ddim()` (data → noise)."""
        kwargs = self._scheduler_kwargs() | {"clip_sample": False}
        return DDIMInverseScheduler(**kwargs, set_alpha_to_one=True)

    @cached_property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t for t = 0 … T−1 (float32, CPU), from diffusers' β arithmetic."""
        return self.ddpm().alphas_cumprod.clone()


def make_schedule(
    num_train_timesteps: int = 1000,
    beta_schedule: str = "linear",
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    clip_sample: bool = False,
    clip_range: float = 1.0,
) -> NoiseSchedule:
    """Build the noise schedule; the defaults are LDNS's DDPM (1000 linear steps)."""
    return NoiseSchedule(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        beta_start=beta_start,
        beta_end=beta_end,
        clip_sample=clip_sample,
        clip_range=clip_range,
    )
