"""LFADS configuration: sizes and fixed hyperparameters (lfads-torch: its hydra configs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LFADSConfig:
    """Sizes and fixed hyperparameters of LFADS.

    Defaults of ic_dim, gen_dim, factor_dim, co_dim (0: no controller) and cd_rate follow the
    LDNS MC_Maze AutoLFADS baseline; the other defaults are this reimplementation's choices.
    """

    n_neurons: int
    ic_enc_dim: int = 64
    ic_dim: int = 64
    gen_dim: int = 100
    factor_dim: int = 40
    co_dim: int = 0
    ci_enc_dim: int = 64
    con_dim: int = 64
    dropout: float = 0.1
    cd_rate: float = 0.3
    cell_clip: float = 5.0
    ic_prior_var: float = 0.1
    co_prior_var: float = 1.0
    kl_ic_scale: float = 1.0
    kl_co_scale: float = 1.0
    l2_gen_scale: float = 2000.0
    l2_con_scale: float = 0.0
    ramp_start: int = 0
    ramp_steps: int = 1000
    normalize_factor_weights: bool = True

    def __post_init__(self) -> None:
        sizes = {k: v for k, v in asdict(self).items() if k.endswith("_dim") or k == "n_neurons"}
        bad = {k: v for k, v in sizes.items() if v < (0 if k == "co_dim" else 1)}
        if bad:
            raise ValueError(f"LFADS sizes must be positive (co_dim may be 0): {bad}")
        for name in ("dropout", "cd_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.ic_prior_var <= 0 or self.co_prior_var <= 0:
            raise ValueError("ic_prior_var and co_prior_var must be positive")
        if self.ramp_start < 0 or self.ramp_steps < 0:
            raise ValueError("ramp_start and ramp_steps must be >= 0")

    @property
    def has_controller(self) -> bool:
        """Whether the model infers time-varying inputs (co_dim > 0)."""
        return self.co_dim > 0
