"""BeNeDiff's behaviour-informed, disentangled latent variable model of one brain region.

A sequential VAE over one region-hemisphere's components x (B, T, N) (reference/benediff.md
§3.1): a GRU encoder gives a Gaussian posterior q(z_t | x) per time step; a GRU decoder maps
the latent trajectory back to the components. The first K_b latent dimensions are tied one to
one to the K_b behaviour labels through a learned gain and bias, ŷ_k = g_k·z_k + b_k, with a
supervised loss; the remaining U dimensions are free to hold behaviour-irrelevant activity.
A total-correlation penalty pushes the latent dimensions towards statistical independence.

Loss per trial (sums over time steps and channels, averaged over trials; authors' code):

    w_x·Σ(x̂ − x)² + w_y·Σ(ŷ − y)² + β_KL·KL(q(z|x) ‖ N(0, I)) + λ_TC·T·TC

TC = E[log q(z) − Σ_j log q(z_j)] is estimated on a subsample of the minibatch's (trial, time)
samples with the β-TCVAE decomposition of the aggregate KL (Chen et al. 2018): index-code
mutual information, total correlation and dimension-wise KL, each from the matrix of
log q(z_i | x_j). Two estimators: minibatch-weighted sampling ("mws", Chen et al.'s
log q(z_i) ≈ logsumexp_j log q(z_i | x_j) − log(N·M); biased by a constant that does not move
the gradients) and minibatch-stratified sampling ("mss", importance weights summing to one).

Baselines are the same class with terms switched off (`LVM_METHODS`): β-VAE (β_KL = β, no
behaviour, no TC), β-TCVAE (TC, no behaviour), supervised without TC (the authors'
"self-supervised" curve) and BeNeDiff (both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

TC_ESTIMATORS = ("mws", "mss")
LVM_METHODS = ("benediff", "supervised_no_tc", "beta_tcvae", "beta_vae")
METHOD_LABELS = {
    "benediff": "BeNeDiff",
    "supervised_no_tc": "supervised (no TC)",
    "beta_tcvae": "β-TCVAE",
    "beta_vae": "β-VAE",
}
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class LVMConfig:
    """Sizes and loss weights of one region's LVM (weights of 0 switch a term off)."""

    n_channels: int
    n_behavior: int
    n_irrelevant: int
    hidden_size: int
    encoder_layers: int = 2
    decoder_layers: int = 1
    recon_weight: float = 1.0
    behavior_weight: float = 10.0
    kl_weight: float = 1.0
    tc_weight: float = 0.0
    tc_samples: int = 256
    tc_estimator: str = "mws"

    def __post_init__(self) -> None:
        for name in ("n_channels", "hidden_size", "encoder_layers", "decoder_layers", "tc_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"LVMConfig.{name}={getattr(self, name)} must be >= 1")
        if self.n_behavior < 0 or self.n_irrelevant < 0 or self.n_latent < 2:
            raise ValueError(
                f"LVMConfig needs n_behavior, n_irrelevant >= 0 and at least 2 "
                f"latents, got {self.n_behavior} + {self.n_irrelevant}"
            )
        for name in ("recon_weight", "behavior_weight", "kl_weight", "tc_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"LVMConfig.{name}={getattr(self, name)} must be >= 0")
        if self.tc_estimator not in TC_ESTIMATORS:
            raise ValueError(f"tc_estimator={self.tc_estimator!r} is not one of {TC_ESTIMATORS}")

    @property
    def n_latent(self) -> int:
        """Latent dimensions: behaviour-tied plus behaviour-irrelevant."""
        return self.n_behavior + self.n_irrelevant

    @property
    def supervised(self) -> bool:
        """Whether the behaviour-tied dimensions are fitted to the labels."""
        return self.behavior_weight > 0


def method_config(
    base: LVMConfig, method: str, beta: float, tc_weight: float, behavior_weight: float
) -> LVMConfig:
    """The LVM config of one method of the comparison: `base` with its loss terms set."""
    weights = {
        "benediff": {"behavior_weight": behavior_weight, "kl_weight": 1.0, "tc_weight": tc_weight},
        "supervised_no_tc": {
            "behavior_weight": behavior_weight,
            "kl_weight": 1.0,
            "tc_weight": 0.0,
        },
        "beta_tcvae": {"behavior_weight": 0.0, "kl_weight": 1.0, "tc_weight": tc_weight},
        "beta_vae": {"behavior_weight": 0.0, "kl_weight": beta, "tc_weight": 0.0},
    }
    if method not in weights:
        raise ValueError(f"unknown LVM method {method!r}; known: {LVM_METHODS}")
    return replace(base, **weights[method])


@dataclass
class LVMOutput:
    """Posterior parameters, the latent sample, and the decoded components and labels."""

    mean: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    reconstruction: torch.Tensor
    behavior: torch.Tensor


class BehaviorLVM(nn.Module):
    """Sequential VAE with behaviour-tied latents; forward(x) → LVMOutput (see module doc)."""

    def __init__(self, config: LVMConfig) -> None:
        super().__init__()
        self.config = config
        n, h, k = config.n_channels, config.hidden_size, config.n_latent
        self.encoder_input = nn.Sequential(nn.Linear(n, h), nn.ReLU())
        self.encoder_rnn = nn.GRU(h, h, num_layers=config.encoder_layers, batch_first=True)
        self.posterior_mean = nn.Linear(h, k)
        self.posterior_logvar = nn.Linear(h, k)
        self.decoder_input = nn.Sequential(nn.Linear(k, h), nn.ReLU())
        self.decoder_rnn = nn.GRU(h, h, num_layers=config.decoder_layers, batch_first=True)
        self.readout = nn.Linear(h, n)
        self.behavior_gain = nn.Parameter(torch.ones(config.n_behavior))
        self.behavior_bias = nn.Parameter(torch.zeros(config.n_behavior))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance (B, T, K) of components x (B, T, N)."""
        if x.ndim != 3 or x.shape[-1] != self.config.n_channels:
            raise ValueError(
                f"x must be (trials, time, {self.config.n_channels}), got {tuple(x.shape)}"
            )
        hidden, _ = self.encoder_rnn(self.encoder_input(x))
        return self.posterior_mean(hidden), self.posterior_logvar(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructed components (B, T, N) of a latent trajectory z (B, T, K)."""
        hidden, _ = self.decoder_rnn(self.decoder_input(z))
        return self.readout(hidden)

    def predict_behavior(self, z: torch.Tensor) -> torch.Tensor:
        """Labels predicted from the behaviour-tied dims: ŷ_k = gain_k·z_k + bias_k (B, T, K_b)."""
        return z[..., : self.config.n_behavior] * self.behavior_gain + self.behavior_bias

    def forward(self, x: torch.Tensor, sample: bool = True) -> LVMOutput:
        """Encode, draw z (the posterior mean when `sample` is False), decode both ways."""
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        return LVMOutput(mean, logvar, z, self.decode(z), self.predict_behavior(z))


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mean, exp(logvar))."""
    return -0.5 * (LOG_2PI + logvar + (z - mean) ** 2 * torch.exp(-logvar))


def log_density_matrix(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i,d | x_j) for every pair of samples: (M, M, K) from (M, K) inputs."""
    return gaussian_log_density(z[:, None, :], mean[None, :, :], logvar[None, :, :])


def stratified_log_weights(batch_size: int, dataset_size: int) -> torch.Tensor:
    """log importance weights (M, M) of minibatch-stratified sampling (Chen et al. 2018, C.2).

    Row i weights sample i's own posterior by 1/N, one stratum sample by (N − M')/(N·M') and
    the rest by 1/M' (M' = M − 1); each row sums to one.
    """
    if batch_size < 2 or dataset_size < batch_size:
        raise ValueError(f"need 2 <= batch_size <= dataset_size, got {batch_size}, {dataset_size}")
    others = batch_size - 1
    weights = torch.full((batch_size, batch_size), 1.0 / others)
    weights.fill_diagonal_(1.0 / dataset_size)
    rows = torch.arange(batch_size)
    weights[rows, (rows + 1) % batch_size] = (dataset_size - others) / (dataset_size * others)
    return weights.log()


@dataclass
class KLDecomposition:
    """Index-code MI, total correlation and dimension-wise KL (nats per sample)."""

    mutual_information: torch.Tensor
    total_correlation: torch.Tensor
    dimensionwise_kl: torch.Tensor


def kl_decomposition(
    z: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    dataset_size: int,
    estimator: str = "mws",
) -> KLDecomposition:
    """β-TCVAE terms of samples z (M, K) drawn from posteriors N(mean, exp(logvar)).

    log q(z_i) and log q(z_i,d) come from the minibatch by "mws" or "mss" (module docstring);
    log q(z_i | x_i) and log p(z_i) = log N(z_i; 0, I) are exact.
    """
    if z.ndim != 2 or z.shape != mean.shape or z.shape != logvar.shape:
        raise ValueError(
            f"z, mean, logvar must share a (samples, dims) shape, got "
            f"{tuple(z.shape)}, {tuple(mean.shape)}, {tuple(logvar.shape)}"
        )
    batch_size = z.shape[0]
    pairwise = log_density_matrix(z, mean, logvar)
    if estimator == "mws":
        offset = math.log(batch_size * dataset_size)
        log_qz = torch.logsumexp(pairwise.sum(-1), dim=1) - offset
        log_qz_marginals = (torch.logsumexp(pairwise, dim=1) - offset).sum(-1)
    elif estimator == "mss":
        log_w = stratified_log_weights(batch_size, dataset_size).to(z)
        log_qz = torch.logsumexp(log_w + pairwise.sum(-1), dim=1)
        log_qz_marginals = torch.logsumexp(log_w[..., None] + pairwise, dim=1).sum(-1)
    else:
        raise ValueError(f"estimator={estimator!r} is not one of {TC_ESTIMATORS}")
    log_qz_given_x = gaussian_log_density(z, mean, logvar).sum(-1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    return KLDecomposition(
        mutual_information=(log_qz_given_x - log_qz).mean(),
        total_correlation=(log_qz - log_qz_marginals).mean(),
        dimensionwise_kl=(log_qz_marginals - log_pz).mean(),
    )


def analytic_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, 1)) elementwise."""
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar)


def _subsample(
    n: int, size: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """`size` random row indices out of n (all rows when n <= size)."""
    if n <= size:
        return torch.arange(n, device=device)
    return torch.randperm(n, generator=generator)[:size].to(device)


def lvm_loss(
    model: BehaviorLVM,
    x: torch.Tensor,
    y: torch.Tensor | None,
    dataset_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The training loss of one minibatch (module docstring) and its terms per trial.

    `dataset_size` is the number of (trial, time) samples of the training set, for the
    minibatch estimate of q(z); `y` (B, T, K_b) may be None for unsupervised models; NaN
    labels (BehaveNet's masked labels) are left out of the behaviour term.
    """
    cfg = model.config
    out = model(x)
    n_trials, n_time = x.shape[:2]
    recon = ((out.reconstruction - x) ** 2).sum() / n_trials
    kl = analytic_kl(out.mean, out.logvar).sum() / n_trials
    flat = [t.reshape(-1, cfg.n_latent) for t in (out.z, out.mean, out.logvar)]
    rows = _subsample(flat[0].shape[0], cfg.tc_samples, generator, x.device)
    terms = kl_decomposition(*(t[rows] for t in flat), dataset_size, cfg.tc_estimator)
    loss = cfg.recon_weight * recon + cfg.kl_weight * kl
    loss = loss + cfg.tc_weight * n_time * terms.total_correlation
    extras: dict[str, Any] = {
        "recon": recon.detach(),
        "kl": kl.detach(),
        "mi": terms.mutual_information.detach(),
        "tc": terms.total_correlation.detach(),
        "dwkl": terms.dimensionwise_kl.detach(),
    }
    if cfg.supervised:
        if y is None or y.shape != (*x.shape[:2], cfg.n_behavior):
            shape = None if y is None else tuple(y.shape)
            raise ValueError(
                f"a supervised LVM needs labels of shape "
                f"{(*x.shape[:2], cfg.n_behavior)}, got {shape}"
            )
        observed = torch.isfinite(y)  # masked labels (NaN) do not count
        errors = torch.where(observed, out.behavior - torch.nan_to_num(y), 0.0)
        behavior = (errors**2).sum() / n_trials
        loss = loss + cfg.behavior_weight * behavior
        extras["behavior"] = behavior.detach()
    return loss, extras


@torch.no_grad()
def posterior_means(model: BehaviorLVM, x: torch.Tensor) -> Mapping[str, torch.Tensor]:
    """Deterministic pass with z = posterior mean: latents, reconstruction, predicted labels."""
    model.eval()
    out = model(x, sample=False)
    return {"latents": out.mean, "reconstruction": out.reconstruction, "behavior": out.behavior}
