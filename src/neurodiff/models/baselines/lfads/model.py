"""The LFADS model: IC encoder → generator (and controller) → factors → Poisson rates.

See the package docstring for the architecture and loss."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.models.baselines.lfads.config import LFADSConfig
from neurodiff.models.baselines.lfads.encoder import BidirectionalEncoder
from neurodiff.models.baselines.lfads.priors import kl_diag_gaussians, ramp_weight, reparameterise
from neurodiff.models.baselines.lfads.reconstruction import coordinated_dropout, poisson_nll
from neurodiff.models.baselines.lfads.recurrent import ClippedGRUCell


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Run a block with dropout off, then restore the module's train/eval mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class LFADS(nn.Module):
    """LFADS with fixed hyperparameters (no population-based training; AutoLFADS used PBT).

    `forward` returns rates and latents; `loss` is the training objective; `encode` gives the
    IC posterior mean (the code compared with GNOCCHI's); `decode` runs the generator from a
    given initial condition g0; `sample_from_prior` generates unconditional rates from the IC
    prior (as LDNS's AutoLFADS baseline did).
    """

    def __init__(self, config: LFADSConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.dropout = nn.Dropout(cfg.dropout)
        self.ic_encoder = BidirectionalEncoder(cfg.n_neurons, cfg.ic_enc_dim)
        self.ic_posterior = nn.Linear(2 * cfg.ic_enc_dim, 2 * cfg.ic_dim)
        self.ic_prior_mean = nn.Parameter(torch.zeros(cfg.ic_dim))
        prior_logvar = torch.full((cfg.ic_dim,), math.log(cfg.ic_prior_var))
        self.register_buffer("ic_prior_logvar", prior_logvar)
        self.ic_to_generator = nn.Linear(cfg.ic_dim, cfg.gen_dim)
        if cfg.has_controller:
            self.ci_encoder = BidirectionalEncoder(cfg.n_neurons, cfg.ci_enc_dim)
            self.controller = ClippedGRUCell(
                2 * cfg.ci_enc_dim + cfg.factor_dim, cfg.con_dim, cfg.cell_clip
            )
            self.co_posterior = nn.Linear(cfg.con_dim, 2 * cfg.co_dim)
        self.generator = ClippedGRUCell(cfg.co_dim, cfg.gen_dim, cfg.cell_clip)
        self.factor_map = nn.Linear(cfg.gen_dim, cfg.factor_dim, bias=False)
        self.readout = nn.Linear(cfg.factor_dim, cfg.n_neurons)

    # ------------------------------------------------------------ pieces of the forward pass

    def _check_spikes(self, spikes: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Per-trial lengths (B,) after checking spikes (B, T, N) and a prefix mask (B, T)."""
        n = self.config.n_neurons
        if spikes.ndim != 3 or spikes.shape[2] != n:
            raise ValueError(
                f"spikes must be (trials, time, {n} neurons), got {tuple(spikes.shape)}"
            )
        batch, n_bins = spikes.shape[:2]
        if mask is None:
            return torch.full((batch,), n_bins, dtype=torch.long, device=spikes.device)
        if mask.shape != (batch, n_bins):
            raise ValueError(f"mask must be ({batch}, {n_bins}), got {tuple(mask.shape)}")
        lengths = mask.sum(dim=1)
        prefix = torch.arange(n_bins, device=mask.device) < lengths[:, None]
        if not torch.equal(mask.bool(), prefix) or bool((lengths == 0).any()):
            raise ValueError("mask must mark a non-empty prefix of each trial (True, then False)")
        return lengths

    def _factors(self, gen_state: torch.Tensor) -> torch.Tensor:
        """Factors from (dropped-out) generator states; weight rows unit-norm if configured."""
        weight = self.factor_map.weight
        if self.config.normalize_factor_weights:
            weight = F.normalize(weight, dim=1)
        return F.linear(self.dropout(gen_state), weight)

    def _ic_posterior(
        self, spikes: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of q(g0 | spikes), each (B, ic_dim)."""
        _, final = self.ic_encoder(self.dropout(spikes), lengths)
        mean, logvar = self.ic_posterior(self.dropout(final)).chunk(2, dim=-1)
        return mean, logvar

    def _controller_step(
        self, encoded: torch.Tensor, factors: torch.Tensor, con_state: torch.Tensor, sample: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(u_t, next controller state, mean, logvar of q(u_t | x)) from the encoded step."""
        con_state = self.controller(self.dropout(torch.cat([encoded, factors], dim=-1)), con_state)
        co_mean, co_logvar = self.co_posterior(con_state).chunk(2, dim=-1)
        u = reparameterise(co_mean, co_logvar) if sample else co_mean
        return u, con_state, co_mean, co_logvar

    def _prior_inputs(
        self, n: int, n_bins: int, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        """Inferred inputs u ~ p(u) (n, n_bins, co_dim), or None without a controller."""
        if not self.config.has_controller:
            return None
        mean = self.ic_prior_mean.new_zeros(n, n_bins, self.config.co_dim)
        logvar = torch.full_like(mean, math.log(self.config.co_prior_var))
        return reparameterise(mean, logvar, generator)

    def _rates(self, factors: torch.Tensor) -> dict[str, torch.Tensor]:
        """{factors, log_rates, rates} from factors (B, T, factor_dim) through the readout."""
        log_rates = self.readout(factors)
        return {"factors": factors, "log_rates": log_rates, "rates": torch.exp(log_rates)}

    def _check_decode_args(
        self, g0: torch.Tensor, n_bins: int, inputs: torch.Tensor | None
    ) -> None:
        """Raise if g0 is not (B, ic_dim), n_bins < 1, or inputs is not (B, n_bins, co_dim)."""
        cfg = self.config
        if g0.ndim != 2 or g0.shape[1] != cfg.ic_dim:
            raise ValueError(f"g0 must be (trials, {cfg.ic_dim}), got {tuple(g0.shape)}")
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        if inputs is None:
            return
        if not cfg.has_controller:
            raise ValueError("inputs given, but this LFADS has no controller (co_dim = 0)")
        expected = (g0.shape[0], n_bins, cfg.co_dim)
        if tuple(inputs.shape) != expected:
            raise ValueError(f"inputs must be {expected}, got {tuple(inputs.shape)}")

    def _unroll(
        self,
        g0: torch.Tensor,
        n_bins: int,
        controller_inputs: torch.Tensor | None = None,
        prior_inputs: torch.Tensor | None = None,
        sample: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Run the generator for n_bins steps from initial condition g0 (B, ic_dim).

        Its inputs u_t are inferred by the controller from `controller_inputs` (B, T,
        2·ci_enc_dim, the CI encoder's states), or given as `prior_inputs`, or absent.
        """
        gen_state = self.ic_to_generator(g0)
        factors = self._factors(gen_state)
        con_state = g0.new_zeros(g0.shape[0], self.config.con_dim)
        steps: dict[str, list[torch.Tensor]] = {
            "factors": [],
            "inputs": [],
            "co_mean": [],
            "co_logvar": [],
        }
        for t in range(n_bins):
            u = None if prior_inputs is None else prior_inputs[:, t]
            if controller_inputs is not None:
                u, con_state, co_mean, co_logvar = self._controller_step(
                    controller_inputs[:, t], factors, con_state, sample
                )
                steps["co_mean"].append(co_mean)
                steps["co_logvar"].append(co_logvar)
            if u is not None:
                steps["inputs"].append(u)
            gen_state = self.generator(u, gen_state)
            factors = self._factors(gen_state)
            steps["factors"].append(factors)
        return {key: torch.stack(vals, dim=1) for key, vals in steps.items() if vals}

    # ------------------------------------------------------------ public interface

    def forward(
        self, spikes: torch.Tensor, sample: bool = True, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Rates and latents for spikes (B, T, N); `mask` (B, T) marks each trial's valid prefix.

        Returns rates, log_rates (B, T, N); factors (B, T, factor_dim); g0_mean, g0_logvar, g0
        (B, ic_dim), where g0 is the sampled (or, with sample=False, mean) initial condition;
        with a controller also co_mean, co_logvar, inputs (B, T, co_dim).
        """
        lengths = self._check_spikes(spikes, mask)
        # 1. IC encoder → posterior over the initial condition; draw g0
        g0_mean, g0_logvar = self._ic_posterior(spikes, lengths)
        g0 = reparameterise(g0_mean, g0_logvar) if sample else g0_mean
        # 2. CI encoder → per-step inputs of the controller
        controller_inputs = None
        if self.config.has_controller:
            controller_inputs, _ = self.ci_encoder(self.dropout(spikes), lengths)
        # 3. generator (and controller) unrolled over time → factors → Poisson log-rates
        out = self._unroll(g0, spikes.shape[1], controller_inputs=controller_inputs, sample=sample)
        return (
            out
            | self._rates(out["factors"])
            | {"g0": g0, "g0_mean": g0_mean, "g0_logvar": g0_logvar}
        )

    def decode(
        self, g0: torch.Tensor, n_bins: int, inputs: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Factors (B, n_bins, factor_dim), log_rates and rates (B, n_bins, N) from g0 alone.

        Runs the generator for n_bins steps from the initial condition g0 (B, ic_dim), with
        generator inputs `inputs` (B, n_bins, co_dim); None means their prior mean (zero) when
        the model has a controller. Given forward's g0 (and inputs) it reproduces forward's
        factors and rates. Dropout follows the module's mode, as in forward: call eval() first.
        """
        self._check_decode_args(g0, n_bins, inputs)
        if inputs is None and self.config.has_controller:
            inputs = g0.new_zeros(g0.shape[0], n_bins, self.config.co_dim)
        return self._rates(self._unroll(g0, n_bins, prior_inputs=inputs)["factors"])

    def loss(
        self,
        spikes: torch.Tensor,
        step: int,
        mask: torch.Tensor | None = None,
        cd_keep: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, logged scalars): Poisson NLL + ramped KL and L2, per trial (module docstring).

        In training mode with cd_rate > 0, coordinated dropout applies; `cd_keep` (bool, like
        spikes, True = fed to the encoders) fixes its mask instead of drawing one.
        """
        cfg = self.config
        lengths = self._check_spikes(spikes, mask)
        valid = torch.arange(spikes.shape[1], device=spikes.device) < lengths[:, None]
        valid = valid[..., None].expand_as(spikes)
        inputs, scored = spikes, valid
        if self.training and cfg.cd_rate > 0:
            if cd_keep is None:
                inputs, cd_keep = coordinated_dropout(spikes, cfg.cd_rate)
            else:
                inputs = spikes * cd_keep / (1.0 - cfg.cd_rate)
            scored = valid & ~cd_keep
        out = self(inputs, sample=True, mask=mask)
        n_trials = spikes.shape[0]
        nll = torch.where(scored, poisson_nll(out["log_rates"], spikes), 0.0).sum()
        recon = nll * valid.sum() / scored.sum().clamp_min(1) / n_trials
        kl_ic = (
            kl_diag_gaussians(
                out["g0_mean"], out["g0_logvar"], self.ic_prior_mean, self.ic_prior_logvar
            ).sum()
            / n_trials
        )
        kl_co = spikes.new_zeros(())
        if cfg.has_controller:
            kl_steps = kl_diag_gaussians(
                out["co_mean"], out["co_logvar"], 0.0, math.log(cfg.co_prior_var)
            ).sum(dim=-1)
            kl_co = torch.where(valid[..., 0], kl_steps, 0.0).sum() / n_trials
        l2 = self.l2_penalty()
        weight = ramp_weight(step, cfg.ramp_start, cfg.ramp_steps)
        total = recon + weight * (cfg.kl_ic_scale * kl_ic + cfg.kl_co_scale * kl_co + l2)
        logs = {
            "recon": recon.item(),
            "kl_ic": kl_ic.item(),
            "kl_co": kl_co.item(),
            "l2": l2.item(),
            "ramp": weight,
        }
        return total, logs

    def l2_penalty(self) -> torch.Tensor:
        """scale · ½ · mean(W²) of the generator's (and controller's) recurrent weights."""
        cfg = self.config
        penalty = cfg.l2_gen_scale * 0.5 * self.generator.recurrent_weight.pow(2).mean()
        if cfg.has_controller:
            con_weight = self.controller.recurrent_weight
            penalty = penalty + cfg.l2_con_scale * 0.5 * con_weight.pow(2).mean()
        return penalty

    @torch.no_grad()
    def encode(self, spikes: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """IC posterior mean g0 (B, ic_dim) without dropout: the code used for disentanglement."""
        with _eval_mode(self):
            lengths = self._check_spikes(spikes, mask)
            return self._ic_posterior(spikes, lengths)[0]

    @torch.no_grad()
    def sample_from_prior(
        self, n: int, n_bins: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """`decode` of g0 ~ p(g0) (and u_t ~ p(u) with a controller), no dropout.

        Returns factors (n, n_bins, factor_dim), log_rates and rates (n, n_bins, N).
        `generator` must live on the model's device; draw spikes with torch.poisson(rates).
        """
        with _eval_mode(self):
            prior_logvar = self.ic_prior_logvar.expand(n, -1)
            g0 = reparameterise(self.ic_prior_mean.expand(n, -1), prior_logvar, generator)
            return self.decode(g0, n_bins, self._prior_inputs(n, n_bins, generator))

    def extra_repr(self) -> str:
        """The configuration, shown by print(model)."""
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def lfads_from_config(n_neurons: int, overrides: dict[str, Any] | None = None) -> LFADS:
    """An LFADS model for n_neurons with config fields overridden (unknown keys raise)."""
    fields = set(LFADSConfig.__dataclass_fields__)
    unknown = sorted(set(overrides or {}) - fields)
    if unknown:
        raise ValueError(f"unknown LFADS config keys {unknown}; allowed: {sorted(fields)}")
    return LFADS(LFADSConfig(n_neurons=n_neurons, **(overrides or {})))
