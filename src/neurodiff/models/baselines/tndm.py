"""TNDM (Hurwitz et al. 2021, NeurIPS): LFADS with behaviourally relevant and irrelevant factors.

Written from the paper on the shared LFADS pieces (neurodiff.models.baselines.lfads):

    spikes ──► bidirectional GRU ──► q(g0_r | x), q(g0_i | x)      two initial conditions
    g0_r ──► generator GRU_r ──► relevant factors f_r ──► Linear ──► behaviour b̂_t
    g0_i ──► generator GRU_i ──► irrelevant factors f_i
    [f_r, f_i] ──► Linear ──► log-rates ──► Poisson

Loss per trial: Poisson NLL (coordinated dropout as LFADS) + `behavior_weight`·Σ_t ‖b_t − b̂_t‖²
(behaviour z-scored per channel) + w(step)·(KL(q(g0_r)‖p) + KL(q(g0_i)‖p) + L2 of both
generators' recurrent weights). Not done: TNDM's optional disentanglement penalty between the
two factor sets. Unconditional samples draw both initial conditions from their priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.models.baselines.fitting import fit_with_adam
from neurodiff.models.baselines.lfads import (
    BidirectionalEncoder,
    ClippedGRUCell,
    coordinated_dropout,
    kl_diag_gaussians,
    poisson_nll,
    ramp_weight,
    reparameterise,
)


@dataclass(frozen=True, kw_only=True)
class TNDMConfig:
    """TNDM sizes and loss weights (LDNS used 5 relevant + 5 irrelevant factors)."""

    n_neurons: int
    n_behavior: int = 2
    enc_dim: int = 64
    ic_dim: int = 32
    gen_dim: int = 64
    rel_factors: int = 5
    irr_factors: int = 5
    dropout: float = 0.1
    cd_rate: float = 0.3
    cell_clip: float = 5.0
    ic_prior_var: float = 0.1
    behavior_weight: float = 1.0
    l2_gen_scale: float = 2000.0
    ramp_steps: int = 1000


class _Generator(nn.Module):
    """One LFADS generator: g0 → GRU (no inputs) → unit-norm factor readout."""

    def __init__(self, cfg: TNDMConfig, n_factors: int) -> None:
        super().__init__()
        self.prior_mean = nn.Parameter(torch.zeros(cfg.ic_dim))
        self.register_buffer("prior_logvar", torch.full((cfg.ic_dim,), math.log(cfg.ic_prior_var)))
        self.ic_to_gen = nn.Linear(cfg.ic_dim, cfg.gen_dim)
        self.gru = ClippedGRUCell(0, cfg.gen_dim, cfg.cell_clip)
        self.factor_map = nn.Linear(cfg.gen_dim, n_factors, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, g0: torch.Tensor, n_bins: int) -> torch.Tensor:
        """Factors (B, n_bins, n_factors) unrolled from g0 (B, ic_dim)."""
        state, factors = self.ic_to_gen(g0), []
        for _ in range(n_bins):
            state = self.gru(None, state)
            factors.append(
                F.linear(self.dropout(state), F.normalize(self.factor_map.weight, dim=1))
            )
        return torch.stack(factors, dim=1)


class TNDM(nn.Module):
    """Targeted Neural Dynamical Modeling: relevant factors explain both spikes and behaviour."""

    def __init__(self, config: TNDMConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = BidirectionalEncoder(cfg.n_neurons, cfg.enc_dim)
        self.posterior = nn.Linear(2 * cfg.enc_dim, 4 * cfg.ic_dim)
        self.relevant = _Generator(cfg, cfg.rel_factors)
        self.irrelevant = _Generator(cfg, cfg.irr_factors)
        self.readout = nn.Linear(cfg.rel_factors + cfg.irr_factors, cfg.n_neurons)
        self.behavior_readout = nn.Linear(cfg.rel_factors, cfg.n_behavior)

    def decode(
        self, g0_r: torch.Tensor, g0_i: torch.Tensor, n_bins: int
    ) -> dict[str, torch.Tensor]:
        """Factors, log-rates, rates (B, n_bins, N) and behaviour (B, n_bins, K) from both ICs."""
        f_r, f_i = self.relevant(g0_r, n_bins), self.irrelevant(g0_i, n_bins)
        log_rates = self.readout(torch.cat([f_r, f_i], dim=-1))
        return {
            "rel_factors": f_r,
            "irr_factors": f_i,
            "log_rates": log_rates,
            "rates": torch.exp(log_rates),
            "behavior": self.behavior_readout(f_r),
        }

    def forward(self, spikes: torch.Tensor, sample: bool = True) -> dict[str, torch.Tensor]:
        """decode() of the posterior ICs of spikes (B, T, N), plus their means and logvars."""
        if spikes.ndim != 3 or spikes.shape[2] != self.config.n_neurons:
            raise ValueError(
                f"spikes must be (trials, time, {self.config.n_neurons}), got {tuple(spikes.shape)}"
            )
        lengths = torch.full((spikes.shape[0],), spikes.shape[1], dtype=torch.long)
        # 1. encoder → posteriors of the relevant and irrelevant initial conditions
        _, final = self.encoder(self.dropout(spikes), lengths)
        mean_r, logvar_r, mean_i, logvar_i = self.posterior(self.dropout(final)).chunk(4, dim=-1)
        # 2. draw (or take the mean of) both ICs and unroll the two generators
        g0_r = reparameterise(mean_r, logvar_r) if sample else mean_r
        g0_i = reparameterise(mean_i, logvar_i) if sample else mean_i
        return self.decode(g0_r, g0_i, spikes.shape[1]) | {
            "mean_r": mean_r,
            "logvar_r": logvar_r,
            "mean_i": mean_i,
            "logvar_i": logvar_i,
        }

    def loss(
        self, spikes: torch.Tensor, behavior: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, logs): Poisson NLL + behaviour MSE + ramped KL and L2, per trial."""
        cfg = self.config
        inputs, scored = spikes, torch.ones_like(spikes, dtype=torch.bool)
        if self.training and cfg.cd_rate > 0:
            inputs, keep = coordinated_dropout(spikes, cfg.cd_rate)
            scored = ~keep
        out = self(inputs)
        n = spikes.shape[0]
        nll = torch.where(scored, poisson_nll(out["log_rates"], spikes), 0.0).sum()
        recon = nll * spikes.numel() / scored.sum().clamp_min(1) / n
        behavior_loss = (out["behavior"] - behavior).pow(2).sum() / n
        kl = (
            kl_diag_gaussians(
                out["mean_r"], out["logvar_r"], self.relevant.prior_mean, self.relevant.prior_logvar
            ).sum()
            + kl_diag_gaussians(
                out["mean_i"],
                out["logvar_i"],
                self.irrelevant.prior_mean,
                self.irrelevant.prior_logvar,
            ).sum()
        ) / n
        l2 = (
            cfg.l2_gen_scale
            * 0.5
            * sum(g.gru.recurrent_weight.pow(2).mean() for g in (self.relevant, self.irrelevant))
        )
        weight = ramp_weight(step, 0, cfg.ramp_steps)
        total = recon + cfg.behavior_weight * behavior_loss + weight * (kl + l2)
        return total, {
            "recon": recon.item(),
            "behavior": behavior_loss.item(),
            "kl": kl.item(),
            "l2": float(l2.detach()),
            "ramp": weight,
        }

    @torch.no_grad()
    def sample_from_prior(
        self, n: int, n_bins: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """decode() of both ICs drawn from their priors, dropout off."""
        was_training = self.training
        self.eval()
        try:
            g0 = [
                reparameterise(g.prior_mean.expand(n, -1), g.prior_logvar.expand(n, -1), generator)
                for g in (self.relevant, self.irrelevant)
            ]
            return self.decode(g0[0], g0[1], n_bins)
        finally:
            self.train(was_training)


@dataclass(frozen=True, kw_only=True)
class TNDMSettings:
    """TNDM training (Adam steps) and `model` overrides of TNDMConfig fields."""

    steps: int
    batch_size: int
    lr: float
    grad_clip: float
    model: dict[str, Any]


def train_tndm(
    spikes: np.ndarray,
    behavior: np.ndarray,
    settings: TNDMSettings,
    run_dir: str | Path,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> tuple[TNDM, dict[str, np.ndarray]]:
    """Fit TNDM on counts (trials, T, N) and behaviour (trials, T, K); return (model, z-scoring)."""
    x = torch.as_tensor(np.asarray(spikes, np.float32))
    behavior = np.asarray(behavior, np.float32)
    if behavior.shape[:2] != tuple(x.shape[:2]):
        raise ValueError(
            f"behavior must be (trials, time, K) like spikes {tuple(x.shape)}, got {behavior.shape}"
        )
    norm = {"mean": behavior.mean(axis=(0, 1)), "std": behavior.std(axis=(0, 1)) + 1e-8}
    b = torch.as_tensor((behavior - norm["mean"]) / norm["std"])

    def loss_fn(net: TNDM, batch: tuple[torch.Tensor, ...], step: int) -> Any:
        return net.loss(batch[0], batch[1], step)

    model = fit_with_adam(
        lambda: TNDM(TNDMConfig(n_neurons=x.shape[2], n_behavior=b.shape[2], **settings.model)),
        loss_fn,
        [x, b],
        x.shape,
        settings,
        run_dir,
        seed,
        "TNDM",
        device,
        progress,
        grad_clip=settings.grad_clip,
    )
    return model, norm
