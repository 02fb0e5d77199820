"""Typed views of the `gnocchi:` config section, one dataclass per part (values checked on entry).

Datasets are prepared by `DatasetSettings` (rebinning, the diffused transform, the decoder lag
and, for MC_Maze, the held-out conditions); GNOCCHI and LFADS each have a model mapping (the
keyword arguments of `gnocchi_from_config` / `lfads_from_config`, kept as given) and a
`TrainSettings`. Training lengths are in optimizer steps (`steps`, `warmup_steps`,
`checkpoint_every`, `log_every`), not epochs. Values keep the types the YAML gives them, so the
run-settings records (`reset_stale_run`) stay those of the mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from neurodiff.settings import from_mapping, require

TRANSFORMS = ("smoothed_zscore", "sqrt")
MIG_BINNINGS = ("equal_width", "equal_frequency")
DCI_MODELS = ("gbt", "lasso")
MODELS = ("gnocchi", "lfads")


@dataclass(frozen=True, kw_only=True)
class DatasetSettings:
    """One dataset's preparation (`gnocchi.datasets.<name>`); the held-out keys are MC_Maze's."""

    rebin: int
    transform: str
    smooth_sigma_bins: float
    decoder_lag_s: float
    heldout_sector_deg: tuple[float, float] | None = None
    heldout_trial_versions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        require(self.rebin >= 1, f"rebin={self.rebin} must be >= 1")
        require(
            self.transform in TRANSFORMS, f"transform={self.transform!r} is not one of {TRANSFORMS}"
        )
        require(self.smooth_sigma_bins > 0, "smooth_sigma_bins must be > 0")
        require(self.decoder_lag_s >= 0, "decoder_lag_s must be >= 0")
        if self.heldout_sector_deg is not None:
            object.__setattr__(self, "heldout_sector_deg", tuple(self.heldout_sector_deg))
            require(
                len(self.heldout_sector_deg) == 2,
                f"heldout_sector_deg={list(self.heldout_sector_deg)} must be [lo, hi]",
            )
        if self.heldout_trial_versions is not None:
            object.__setattr__(self, "heldout_trial_versions", tuple(self.heldout_trial_versions))


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """AdamW with linear warm-up then cosine decay to 0; every length in optimizer steps."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    checkpoint_every: int
    log_every: int

    def __post_init__(self) -> None:
        require(self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be >= 1")
        require(
            0 <= self.warmup_steps <= self.steps,
            f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps}]",
        )
        require(self.lr > 0 and self.weight_decay >= 0, "lr must be > 0, weight_decay >= 0")
        require(self.checkpoint_every >= 1 and self.log_every >= 1, "intervals must be >= 1")

    def as_dict(self) -> dict[str, Any]:
        """The `train:` mapping these settings were read from."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class SamplingSettings:
    """GNOCCHI's deterministic DDIM sampling."""

    ddim_steps: int
    eta: float

    def __post_init__(self) -> None:
        require(self.ddim_steps >= 1, f"ddim_steps={self.ddim_steps} must be >= 1")
        require(self.eta >= 0, f"eta={self.eta} must be >= 0")


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """One model of the comparison: its builder's settings, training and (GNOCCHI) sampling."""

    model: dict[str, Any]
    train: TrainSettings
    sampling: SamplingSettings | None = None

    @classmethod
    def from_config(cls, values: Mapping[str, Any], where: str) -> ModelSettings:
        """Parse `gnocchi.<model>` (a mapping with model, train and optionally sampling)."""
        parts = dict(values)
        parts["train"] = from_mapping(TrainSettings, values.get("train", {}), f"{where}.train")
        if "sampling" in values:
            parts["sampling"] = from_mapping(
                SamplingSettings, values["sampling"], f"{where}.sampling"
            )
        return from_mapping(cls, parts, where)


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings:
    """Disentanglement (MIG, DCI), traversal and decoder settings of `run_evaluation`."""

    mig_bins: int
    mig_binning: str
    dci_model: str
    dci_estimators: int
    traversal_range: float
    traversal_points: int
    traversal_trials: int
    factor_map_alpha: float
    velocity_alpha: float
    factor_alpha: float
    factor_windows: int

    def __post_init__(self) -> None:
        require(
            self.mig_binning in MIG_BINNINGS,
            f"mig_binning={self.mig_binning!r} is not one of {MIG_BINNINGS}",
        )
        require(
            self.dci_model in DCI_MODELS, f"dci_model={self.dci_model!r} is not one of {DCI_MODELS}"
        )
        require(self.mig_bins >= 2, f"mig_bins={self.mig_bins} must be >= 2")

    def as_dict(self) -> dict[str, Any]:
        """The `evaluation:` mapping these settings were read from."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class GnocchiSettings:
    """The whole `gnocchi:` section (`resources` is the workflow's, kept as given)."""

    seeds: tuple[int, ...]
    code_dim: int
    datasets: dict[str, DatasetSettings]
    gnocchi: ModelSettings
    lfads: ModelSettings
    evaluation: EvaluationSettings
    resources: dict[str, Any] = field(default_factory=dict)

    def model(self, kind: str) -> ModelSettings:
        """The settings of model `kind` ("gnocchi" or "lfads")."""
        require(kind in MODELS, f"model {kind!r} is not one of {MODELS}")
        return self.gnocchi if kind == "gnocchi" else self.lfads

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> GnocchiSettings:
        """Parse the `gnocchi:` mapping (after schema validation) into typed settings."""
        missing = sorted(
            {"seeds", "code_dim", "datasets", "gnocchi", "lfads", "evaluation"} - set(cfg)
        )
        require(not missing, f"gnocchi: missing sections {missing}")
        values = dict(cfg)
        values["seeds"] = tuple(cfg["seeds"])
        values["datasets"] = {
            name: from_mapping(DatasetSettings, part, f"gnocchi.datasets.{name}")
            for name, part in cfg["datasets"].items()
        }
        for kind in MODELS:
            values[kind] = ModelSettings.from_config(cfg[kind], f"gnocchi.{kind}")
        values["evaluation"] = from_mapping(
            EvaluationSettings, cfg["evaluation"], "gnocchi.evaluation"
        )
        return from_mapping(cls, values, "gnocchi")
