"""pi-VAE baseline of LDNS (Zhou & Wei 2020, NeurIPS): an identifiable VAE with a label prior.

Network: the `pi-vae-pytorch` package (1.1.0), read and checked against the paper: MLP encoder
q(z | x), label prior p(z | u) (an MLP for continuous labels), posterior q(z | x, u) ∝
q(z | x)·p(z | u) (product of Gaussians), and the GIN-flow decoder with softplus rates (Poisson
observation). Loss: written here from the paper, −ELBO = Σ_n (r_n − x_n log r_n) +
KL(q(z | x, u) ‖ p(z | u)), averaged over samples. The package's `ELBOLoss` is not used: its
version 1 halves the KL term and its version 2 mixes in KL(q(z | x) ‖ p(z | u)), neither of
which is the paper's objective.

Data as the LDNS authors used pi-VAE on MC_Maze (reference/ldns.md §3): every time bin is a
sample x ∈ R^N, the label u = (cos θ, sin θ) of its trial's reach angle θ; an unconditional
"sample" of a trial is the decoded prior mean, rates = f(E[z | u]) constant over time, with
Poisson spikes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pi_vae_pytorch import PiVAE

from neurodiff.models.baselines.fitting import fit_with_adam


@dataclass(frozen=True, kw_only=True)
class PiVAESettings:
    """pi-VAE sizes and training (Adam steps over minibatches of the training trials' time bins)."""

    z_dim: int
    encoder_hidden: int
    gin_blocks: int
    steps: int
    batch_size: int
    lr: float


def angle_labels(angle: np.ndarray) -> np.ndarray:
    """Labels (trials, 2) = (cos θ, sin θ) of reach angles θ (trials,) in radians."""
    angle = np.asarray(angle, dtype=np.float32)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def build_pivae(n_neurons: int, settings: PiVAESettings) -> PiVAE:
    """A pi-VAE for n_neurons with a continuous 2-d label (Poisson observation)."""
    return PiVAE(
        x_dim=n_neurons,
        u_dim=2,
        z_dim=settings.z_dim,
        discrete_labels=False,
        encoder_hidden_layer_dim=settings.encoder_hidden,
        decoder_n_gin_blocks=settings.gin_blocks,
        decoder_observation_model="poisson",
    )


def kl_gaussians(
    mean0: torch.Tensor, logvar0: torch.Tensor, mean1: torch.Tensor, logvar1: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean0, e^logvar0) ‖ N(mean1, e^logvar1)) summed over the last axis."""
    ratio = torch.exp(logvar0 - logvar1)
    return 0.5 * (ratio + (mean1 - mean0) ** 2 / torch.exp(logvar1) - 1 - torch.log(ratio)).sum(-1)


def pivae_loss(
    model: PiVAE, x: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """(−ELBO, logs) of the paper: Poisson NLL (no log x! term) + KL(q(z|x,u) ‖ p(z|u))."""
    out = model(x, u)
    rate = out["posterior_firing_rate"]
    nll = (rate - x * torch.log(rate)).sum(-1).mean()
    kl = kl_gaussians(
        out["posterior_mean"],
        out["posterior_log_variance"],
        out["label_mean"],
        out["label_log_variance"],
    ).mean()
    return nll + kl, {"nll": nll.item(), "kl": kl.item()}


def train_pivae(
    spikes: np.ndarray,
    labels: np.ndarray,
    settings: PiVAESettings,
    run_dir: str | Path,
    seed: int,
    device: str = "auto",
    progress: bool = True,
) -> PiVAE:
    """Fit pi-VAE on counts (trials, time, neurons) with per-trial labels (trials, 2)."""
    spikes, labels = np.asarray(spikes, np.float32), np.asarray(labels, np.float32)
    if labels.shape != (len(spikes), 2):
        raise ValueError(f"labels must be ({len(spikes)}, 2), got {labels.shape}")
    x = torch.as_tensor(spikes.reshape(-1, spikes.shape[2]))
    u = torch.as_tensor(np.repeat(labels, spikes.shape[1], axis=0))

    def loss_fn(net: PiVAE, batch: tuple[torch.Tensor, ...], step: int) -> Any:
        return pivae_loss(net, batch[0], batch[1])

    return fit_with_adam(
        lambda: build_pivae(spikes.shape[2], settings),
        loss_fn,
        [x, u],
        spikes.shape,
        settings,
        run_dir,
        seed,
        "pi-VAE",
        device,
        progress,
    )


@torch.no_grad()
def pivae_samples(
    model: PiVAE, labels: np.ndarray, n_bins: int, generator: torch.Generator
) -> dict[str, np.ndarray]:
    """Rates (trials, n_bins, N) = decoded prior mean E[z | u] per label, and Poisson spikes."""
    model.eval()
    mean, _ = model.label_prior(torch.as_tensor(np.asarray(labels, np.float32)))
    rate = model.decode(mean)
    rates = rate[:, None, :].expand(-1, n_bins, -1).contiguous()
    spikes = torch.poisson(rates, generator=generator)
    return {"rates": rates.numpy(), "spikes": spikes.numpy(), "labels": np.asarray(labels)}
