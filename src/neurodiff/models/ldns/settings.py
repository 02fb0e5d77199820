"""Typed views of the `ldns:` config section, one dataclass per part (values checked on entry).

The config mirrors the paper's Tables 2 and 3: one autoencoder entry per dataset, one
denoiser entry per diffusion model (dataset × conditioning), plus the shared noise schedule,
sampling, spike-history, LFADS-baseline, behaviour and evaluation settings. Sizes are in
channels and blocks; training lengths in optimizer steps, as in every training block of the
project (the paper's epochs × the full batches of its training split; `config/paper.yaml`
gives the conversion for each model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neurodiff.settings import from_mapping

CONDITIONINGS = ("none", "angle", "velocity", "length")
SAMPLERS = ("ddpm", "ddim")
CHECKPOINT_RULES = ("best_val", "last")
DIFFUSION_LOSSES = ("mse", "smooth_l1")


def _require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless condition holds."""
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True)
class OptimSettings:
    """AdamW with linear warm-up then cosine decay over `lr_horizon` × the training steps."""

    steps: int
    warmup_steps: int
    batch_size: int
    lr: float
    weight_decay: float
    grad_clip: float
    lr_horizon: float

    def check(self) -> None:
        """Raise ValueError if a value is out of range."""
        _require(self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be >= 1")
        _require(
            0 <= self.warmup_steps <= self.steps,
            f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps}]",
        )
        _require(self.lr_horizon >= 1, f"lr_horizon={self.lr_horizon} must be >= 1")


@dataclass(frozen=True, kw_only=True)
class AutoencoderSettings(OptimSettings):
    """One dataset's S4 autoencoder (paper Table 2)."""

    hidden_channels: int
    latent_channels: int
    num_blocks: int
    bidirectional: bool
    d_state: int
    cd_p: float
    latent_beta: float
    td_beta: float
    latent_clip: float | None
    checkpoint: str
    log_every: int

    def __post_init__(self) -> None:
        self.check()
        _require(
            self.checkpoint in CHECKPOINT_RULES,
            f"checkpoint={self.checkpoint!r} is not one of {CHECKPOINT_RULES}",
        )
        _require(0 <= self.cd_p < 1, f"cd_p={self.cd_p} must be in [0, 1)")
        _require(self.log_every >= 1, f"log_every={self.log_every} must be >= 1 (steps)")

    def architecture(self, input_channels: int) -> dict[str, Any]:
        """Keyword arguments of S4Autoencoder for data with `input_channels` channels."""
        return {
            "input_channels": input_channels,
            "hidden_channels": self.hidden_channels,
            "latent_channels": self.latent_channels,
            "num_blocks": self.num_blocks,
            "bidirectional": self.bidirectional,
            "d_state": self.d_state,
        }


@dataclass(frozen=True, kw_only=True)
class DenoiserSettings(OptimSettings):
    """One latent diffusion model (paper Table 3) and how it is sampled."""

    dataset: str
    conditioning: str
    hidden_channels: int
    num_blocks: int
    d_state: int
    output_init_scale: float
    loss: str
    smooth_l1_beta: float | None
    ema_power: float
    ema_max_decay: float
    ema_min_decay: float
    samplers: tuple[str, ...]
    long_samples: int

    def __post_init__(self) -> None:
        self.check()
        object.__setattr__(self, "samplers", tuple(self.samplers))
        _require(
            self.conditioning in CONDITIONINGS,
            f"conditioning={self.conditioning!r} is not one of {CONDITIONINGS}",
        )
        _require(
            self.loss in DIFFUSION_LOSSES, f"loss={self.loss!r} is not one of {DIFFUSION_LOSSES}"
        )
        _require(
            bool(self.samplers) and set(self.samplers) <= set(SAMPLERS),
            f"samplers={list(self.samplers)} must be a non-empty subset of {SAMPLERS}",
        )
        _require(self.long_samples >= 0, "long_samples must be >= 0")
        _require(
            self.loss != "smooth_l1" or self.smooth_l1_beta is not None,
            "loss smooth_l1 needs smooth_l1_beta",
        )

    def loss_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `diffusion_loss` selecting the regression loss."""
        if self.loss == "smooth_l1":
            return {"loss": "smooth_l1", "smooth_l1_beta": self.smooth_l1_beta}
        return {"loss": self.loss}


@dataclass(frozen=True, kw_only=True)
class DiffusionSettings:
    """The DDPM noise schedule shared by every LDNS denoiser."""

    num_train_timesteps: int
    beta_schedule: str
    beta_start: float
    beta_end: float


@dataclass(frozen=True, kw_only=True)
class SamplingSettings:
    """Sampler step counts and how many samples of each kind to draw."""

    ddpm_steps: int
    ddim_steps: int
    batch_size: int
    length_factor: int
    n_angle_samples: int
    velocity_conditions: int
    velocity_samples_per_condition: int
    human_eval_stride: int

    def steps(self, sampler: str) -> int:
        """Number of denoising steps of `sampler` ("ddpm" or "ddim")."""
        return {"ddpm": self.ddpm_steps, "ddim": self.ddim_steps}[sampler]


@dataclass(frozen=True, kw_only=True)
class SamplerStudySettings:
    """DDIM step counts scored against DDPM over `reference_ddpm_steps` (`sampler_study`)."""

    models: tuple[str, ...]
    reference_ddpm_steps: int
    ddim_steps: tuple[int, ...]
    n_samples: int
    n_bootstrap: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "ddim_steps", tuple(self.ddim_steps))
        _require(self.n_samples >= 2, f"n_samples={self.n_samples} must be >= 2")
        _require(
            bool(self.ddim_steps) and 1 <= min(self.ddim_steps),
            f"ddim_steps={list(self.ddim_steps)} must be a non-empty list of counts >= 1",
        )
        _require(
            max(self.ddim_steps) <= self.reference_ddpm_steps,
            f"ddim_steps={list(self.ddim_steps)} must not exceed "
            f"reference_ddpm_steps={self.reference_ddpm_steps}",
        )


@dataclass(frozen=True, kw_only=True)
class SpikeHistorySettings:
    """The post-hoc spike-history GLM: fit by full-batch AdamW, sampled autoregressively."""

    history_bins: int
    steps: int
    lr: float
    weight_decay: float
    clip: int
    sample_cap: int


@dataclass(frozen=True, kw_only=True)
class LFADSSettings:
    """The LFADS baseline with fixed hyperparameters (`model` overrides LFADSConfig fields)."""

    steps: int
    batch_size: int
    lr: float
    grad_clip: float
    long_samples: int
    model: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class BehaviorSettings:
    """MC_Maze behaviour: velocity unit scale, movement-onset bin, ridge decoder penalty."""

    velocity_scale: float
    onset_bin: int
    ridge_alpha: float


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings:
    """Table 1 bootstrap and the statistics drawn in the figures."""

    n_bootstrap: int
    seed: int
    max_lag: int
    n_groups: int
    pca_components: int
    smoothing_sigma_s: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class LDNSSettings:
    """The whole `ldns:` section."""

    diffusion: DiffusionSettings
    autoencoder: dict[str, AutoencoderSettings]
    denoiser: dict[str, DenoiserSettings]
    sampling: SamplingSettings
    spike_history: SpikeHistorySettings
    lfads: dict[str, LFADSSettings]
    behavior: BehaviorSettings
    evaluation: EvaluationSettings

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> LDNSSettings:
        """Parse the `ldns:` mapping (after schema validation) into typed settings."""
        parts = {
            "diffusion",
            "autoencoder",
            "denoiser",
            "sampling",
            "spike_history",
            "lfads",
            "behavior",
            "evaluation",
        }
        missing = sorted(parts - set(cfg))
        if missing:
            raise ValueError(f"ldns: missing sections {missing}")
        denoisers = {
            name: from_mapping(DenoiserSettings, values, f"ldns.denoiser.{name}")
            for name, values in cfg["denoiser"].items()
        }
        unknown = {
            n: d.dataset for n, d in denoisers.items() if d.dataset not in cfg["autoencoder"]
        }
        _require(not unknown, f"ldns.denoiser: datasets without an autoencoder: {unknown}")
        return cls(
            diffusion=from_mapping(DiffusionSettings, cfg["diffusion"], "ldns.diffusion"),
            autoencoder={
                name: from_mapping(AutoencoderSettings, values, f"ldns.autoencoder.{name}")
                for name, values in cfg["autoencoder"].items()
            },
            denoiser=denoisers,
            sampling=from_mapping(SamplingSettings, cfg["sampling"], "ldns.sampling"),
            spike_history=from_mapping(
                SpikeHistorySettings, cfg["spike_history"], "ldns.spike_history"
            ),
            lfads={
                name: from_mapping(LFADSSettings, values, f"ldns.lfads.{name}")
                for name, values in cfg["lfads"].items()
            },
            behavior=from_mapping(BehaviorSettings, cfg["behavior"], "ldns.behavior"),
            evaluation=from_mapping(EvaluationSettings, cfg["evaluation"], "ldns.evaluation"),
        )
