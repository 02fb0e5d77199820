"""Typed views of the `benediff:` config section, one dataclass per part (values checked on entry).

The LVM comparison (`LvmSettings`, with its `TrainSettings`) and its metrics, the frame
autoencoder, the video diffusion model (U-Net, noise schedule, loss, training), guided sampling,
the cross-hemisphere analysis and the figures; `BenediffSettings` holds the whole section
(`resources` is the workflow's, kept as given). Training lengths are in optimizer steps
(`steps`, `checkpoint_every`, `log_every`), as the config gives them, not epochs.

Values keep the types the YAML gives them (no int → float casts); lists are held as tuples and
`as_dict()` gives back exactly the mapping that was read (lists as lists), so the run
directories and run-settings records hashed from it (`fit.model_run_dir`, `fit.fit_region_lvms`,
`neurodiff.train.reset_stale_run`) stay those of the config mappings. The library functions
take either these settings or the raw mappings (parsed on entry by `<Settings>.of`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from neurodiff.models.benediff.lvm import LVM_METHODS, TC_ESTIMATORS
from neurodiff.settings import from_mapping, require

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
DIFFUSION_LOSSES = ("mse", "l1", "smooth_l1")

S = TypeVar("S", bound="Section")


def _plain(value: Any) -> Any:
    """`value` as the YAML gave it: sections as mappings, tuples as lists."""
    if isinstance(value, Section):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def as_mapping(settings: Section | Mapping[str, Any]) -> dict[str, Any]:
    """The mapping of `settings` (`as_dict()`), or a copy of a mapping given as is."""
    return settings.as_dict() if isinstance(settings, Section) else dict(settings)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(name: str, value: Any, minimum: int) -> None:
    """Require an integer >= minimum, naming the key."""
    require(
        _is_int(value) and value >= minimum, f"{name}={value!r} must be an integer >= {minimum}"
    )


def _positive(name: str, value: Any) -> None:
    """Require a finite number > 0, naming the key."""
    require(_is_number(value) and value > 0, f"{name}={value!r} must be a number > 0")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    require(value in allowed, f"{name}={value!r} is not one of {allowed}")


def _as_tuple(section: Any, name: str) -> tuple:
    """Hold the list `name` of `section` as a tuple (refusing a non-list)."""
    value = getattr(section, name)
    require(isinstance(value, (list, tuple)), f"{name}={value!r} must be a list")
    object.__setattr__(section, name, tuple(value))
    return tuple(value)


def _methods(name: str, methods: tuple) -> None:
    require(bool(methods), f"{name} must not be empty")
    unknown = [m for m in methods if m not in LVM_METHODS]
    require(not unknown, f"{name}: unknown methods {unknown}; known: {LVM_METHODS}")
    require(len(set(methods)) == len(methods), f"{name}={list(methods)} repeats a method")


class Section:
    """Base of the settings dataclasses: parsing from a config mapping and `as_dict()`.

    `KEY` is the config key named in errors; `PARTS` maps the keys holding nested sections to
    their settings classes.
    """

    KEY: ClassVar[str] = "benediff"
    PARTS: ClassVar[dict[str, type[Section]]] = {}

    @classmethod
    def from_config(cls: type[S], values: Mapping[str, Any], where: str | None = None) -> S:
        """Parse the config mapping (after schema validation); errors name `where`."""
        where = where or cls.KEY
        require(
            isinstance(values, Mapping),
            f"{where}: expected a mapping, got {type(values).__name__}",
        )
        parsed = dict(values)
        for name, part in cls.PARTS.items():
            if name in parsed:
                parsed[name] = part.from_config(parsed[name], f"{where}.{name}")
        return from_mapping(cls, parsed, where)

    @classmethod
    def of(cls: type[S], value: S | Mapping[str, Any], where: str | None = None) -> S:
        """`value` itself if already parsed, else the settings read from the mapping."""
        return value if isinstance(value, cls) else cls.from_config(value, where)

    def as_dict(self) -> dict[str, Any]:
        """The mapping these settings were read from (same keys, values and YAML types)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class TrainSettings(Section):
    """Adam at a constant `lr` for `steps` optimizer steps (a `train:` block)."""

    KEY: ClassVar[str] = "benediff.train"

    steps: int
    batch_size: int
    lr: float
    grad_clip: float | None
    checkpoint_every: int
    log_every: int

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            _integer(name, getattr(self, name), 1)
        _positive("lr", self.lr)
        if self.grad_clip is not None:
            _positive("grad_clip", self.grad_clip)


@dataclass(frozen=True, kw_only=True)
class LvmSettings(Section):
    """The LVM comparison of one region (`benediff.lvm`): methods, sizes, loss weights."""

    KEY: ClassVar[str] = "benediff.lvm"
    PARTS: ClassVar[dict[str, type[Section]]] = {"train": TrainSettings}

    methods: tuple[str, ...]
    n_irrelevant: int
    hidden_size: int | None  # None: the region's component count
    encoder_layers: int
    decoder_layers: int
    recon_weight_numerator: float
    behavior_weight: float
    beta_vae_beta: float
    tc_weight: float
    tc_estimator: str
    tc_samples: int
    train: TrainSettings

    def __post_init__(self) -> None:
        _methods("methods", _as_tuple(self, "methods"))
        require("benediff" in self.methods, f"methods={list(self.methods)} must hold 'benediff'")
        _integer("n_irrelevant", self.n_irrelevant, 0)
        if self.hidden_size is not None:
            _integer("hidden_size", self.hidden_size, 1)
        _integer("encoder_layers", self.encoder_layers, 1)
        _integer("decoder_layers", self.decoder_layers, 1)
        for name in ("recon_weight_numerator", "behavior_weight", "beta_vae_beta", "tc_weight"):
            _positive(name, getattr(self, name))
        _choice("tc_estimator", self.tc_estimator, TC_ESTIMATORS)
        _integer("tc_samples", self.tc_samples, 2)


@dataclass(frozen=True, kw_only=True)
class MetricsSettings(Section):
    """MIG bins and the ridge penalty of the latent → label decoder (`benediff.metrics`)."""

    KEY: ClassVar[str] = "benediff.metrics"

    mig_bins: int
    decoder_ridge_alpha: float

    def __post_init__(self) -> None:
        _integer("mig_bins", self.mig_bins, 2)
        _positive("decoder_ridge_alpha", self.decoder_ridge_alpha)


@dataclass(frozen=True, kw_only=True)
class FrameAeSettings(Section):
    """The frame autoencoder (`benediff.frame_ae`): stride-2 conv widths, code channels."""

    KEY: ClassVar[str] = "benediff.frame_ae"
    PARTS: ClassVar[dict[str, type[Section]]] = {"train": TrainSettings}

    channels: tuple[int, ...]
    latent_channels: int
    train: TrainSettings

    def __post_init__(self) -> None:
        channels = _as_tuple(self, "channels")
        require(
            bool(channels) and all(_is_int(c) and c >= 1 for c in channels),
            f"channels={list(channels)} must be a non-empty list of integers >= 1",
        )
        _integer("latent_channels", self.latent_channels, 1)


@dataclass(frozen=True, kw_only=True)
class UNetSettings(Section):
    """The space-time U-Net's sizes (`benediff.diffusion.unet`)."""

    KEY: ClassVar[str] = "benediff.diffusion.unet"

    dim: int
    dim_mults: tuple[int, ...]
    heads: int
    dim_head: int
    groups: int
    blocks_per_stage: int

    def __post_init__(self) -> None:
        mults = _as_tuple(self, "dim_mults")
        require(
            bool(mults) and all(_is_int(m) and m >= 1 for m in mults),
            f"dim_mults={list(mults)} must be a non-empty list of integers >= 1",
        )
        for name in ("dim", "heads", "dim_head", "groups", "blocks_per_stage"):
            _integer(name, getattr(self, name), 1)


@dataclass(frozen=True, kw_only=True)
class ScheduleSettings(Section):
    """The DDPM noise schedule (`benediff.diffusion.schedule`); codes live in [−1, 1]."""

    KEY: ClassVar[str] = "benediff.diffusion.schedule"

    num_train_timesteps: int
    beta_schedule: str
    clip_sample: bool

    def __post_init__(self) -> None:
        _integer("num_train_timesteps", self.num_train_timesteps, 2)
        _choice("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
        require(
            isinstance(self.clip_sample, bool), f"clip_sample={self.clip_sample!r} must be a bool"
        )


@dataclass(frozen=True, kw_only=True)
class DiffusionSettings(Section):
    """The video diffusion model (`benediff.diffusion`): U-Net, schedule, loss, training."""

    KEY: ClassVar[str] = "benediff.diffusion"
    PARTS: ClassVar[dict[str, type[Section]]] = {
        "unet": UNetSettings,
        "schedule": ScheduleSettings,
        "train": TrainSettings,
    }

    unet: UNetSettings
    schedule: ScheduleSettings
    loss: str
    train: TrainSettings

    def __post_init__(self) -> None:
        _choice("loss", self.loss, DIFFUSION_LOSSES)


@dataclass(frozen=True, kw_only=True)
class GuidanceSettings(Section):
    """Guided sampling and its scoring (`benediff.guidance`)."""

    KEY: ClassVar[str] = "benediff.guidance"

    methods: tuple[str, ...]
    scales: tuple[float, ...]
    selection_samples: int
    control_dims: int
    sampling_steps: int
    samples_per_factor: int
    encoder_ridge_alpha: float
    label_decoder_alpha: float
    label_decoder_pixels: int
    chunk_size: int
    saved_samples: int
    seed: int

    def __post_init__(self) -> None:
        _methods("methods", _as_tuple(self, "methods"))
        scales = _as_tuple(self, "scales")
        require(
            bool(scales) and all(_is_number(s) and s >= 0 for s in scales),
            f"scales={list(scales)} must be a non-empty list of numbers >= 0",
        )
        _integer("selection_samples", self.selection_samples, 2)
        _integer("control_dims", self.control_dims, 0)
        _integer("sampling_steps", self.sampling_steps, 1)
        _integer("samples_per_factor", self.samples_per_factor, 2)
        _positive("encoder_ridge_alpha", self.encoder_ridge_alpha)
        _positive("label_decoder_alpha", self.label_decoder_alpha)
        _integer("label_decoder_pixels", self.label_decoder_pixels, 1)
        _integer("chunk_size", self.chunk_size, 1)
        _integer("saved_samples", self.saved_samples, 1)
        _integer("seed", self.seed, 0)


@dataclass(frozen=True, kw_only=True)
class CrossHemisphereSettings(Section):
    """The paw labels compared across hemispheres and the CCA size (`.cross_hemisphere`)."""

    KEY: ClassVar[str] = "benediff.cross_hemisphere"

    labels: tuple[str, ...]
    cca_components: int

    def __post_init__(self) -> None:
        labels = _as_tuple(self, "labels")
        require(
            bool(labels) and all(isinstance(x, str) for x in labels),
            f"labels={list(labels)} must be a non-empty list of label names",
        )
        _integer("cca_components", self.cca_components, 1)


@dataclass(frozen=True, kw_only=True)
class FigureSettings(Section):
    """The session shown in figures 3–5 (None: the first) and the strip and GIF sizes."""

    KEY: ClassVar[str] = "benediff.figures"

    session: str | None
    strip_frames: int
    gif_fps: int
    gif_scale: int

    def __post_init__(self) -> None:
        require(
            self.session is None or isinstance(self.session, str),
            f"session={self.session!r} must be a session id or null",
        )
        _integer("strip_frames", self.strip_frames, 2)
        _integer("gif_fps", self.gif_fps, 1)
        _integer("gif_scale", self.gif_scale, 1)


@dataclass(frozen=True, kw_only=True)
class BenediffSettings(Section):
    """The whole `benediff:` section (`resources` is the workflow's, kept as given)."""

    KEY: ClassVar[str] = "benediff"
    PARTS: ClassVar[dict[str, type[Section]]] = {
        "lvm": LvmSettings,
        "metrics": MetricsSettings,
        "frame_ae": FrameAeSettings,
        "diffusion": DiffusionSettings,
        "guidance": GuidanceSettings,
        "cross_hemisphere": CrossHemisphereSettings,
        "figures": FigureSettings,
    }

    seeds: tuple[int, ...]
    lvm: LvmSettings
    metrics: MetricsSettings
    frame_ae: FrameAeSettings
    diffusion: DiffusionSettings
    guidance: GuidanceSettings
    cross_hemisphere: CrossHemisphereSettings
    figures: FigureSettings
    resources: dict[str, Any]

    def __post_init__(self) -> None:
        seeds = _as_tuple(self, "seeds")
        require(
            bool(seeds) and all(_is_int(s) and s >= 0 for s in seeds),
            f"seeds={list(seeds)} must be a non-empty list of integers >= 0",
        )
        require(len(set(seeds)) == len(seeds), f"seeds={list(seeds)} repeats a seed")
        extra = [m for m in self.guidance.methods if m not in self.lvm.methods]
        require(not extra, f"guidance.methods {extra} are not among lvm.methods")
