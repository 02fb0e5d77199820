"""Spike-history observation model (a per-neuron Poisson GLM), fitted after the autoencoder.

For neuron n at bin t: λ_t = softplus(Σ_k w_k·s_{t−k} + w_r·log r_t + b), k = 1 … 20, where r
are the autoencoder's (or diffusion samples') rates and s the spike counts. Fitting uses the
data's own spikes as history and, as the paper, only bins t ≥ 20 (full history) as targets;
sampling runs it autoregressively from a zero history, so the rates from the diffusion model
get refractoriness and bursting on top.

Arrays are (trials, neurons, time) like the models' (B, C, L) tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HISTORY_BINS = 20
RATE_FLOOR = 1e-6


def check_counts_and_rates(spikes: torch.Tensor, rates: torch.Tensor) -> None:
    """Raise unless spikes and rates are matching (trials, neurons, time) tensors."""
    if rates.ndim != 3:
        raise ValueError(f"rates must be (trials, neurons, time), got shape {tuple(rates.shape)}")
    if spikes.shape != rates.shape:
        raise ValueError(f"spikes shape {tuple(spikes.shape)} != rates shape {tuple(rates.shape)}")


class SpikeHistoryGLM(nn.Module):
    """Per-neuron weights: history (N, 20) with column k−1 for lag k, rate gain (N,), bias (N,)."""

    def __init__(self, num_neurons: int, history_bins: int = HISTORY_BINS) -> None:
        super().__init__()
        self.history_bins = history_bins
        self.history = nn.Parameter(torch.zeros(num_neurons, history_bins))
        self.rate_gain = nn.Parameter(torch.ones(num_neurons))
        self.bias = nn.Parameter(torch.zeros(num_neurons))

    def history_drive(self, spikes: torch.Tensor) -> torch.Tensor:
        """Σ_k w_k·s_{t−k} for every bin of spikes (B, N, T), zeros before the first bin."""
        padded = F.pad(spikes, (self.history_bins, 0))
        # conv1d correlates, so the kernel is the lag-ordered weight row reversed.
        drive = F.conv1d(padded, self.history.flip(-1).unsqueeze(1), groups=spikes.shape[1])
        return drive[..., : spikes.shape[-1]]

    def intensity(self, history_drive: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """λ = softplus(history drive + w_r·log r + b), shapes (B, N, T) or (B, N)."""
        extra = (rates.ndim - 2) * (1,)
        gain = self.rate_gain.view(-1, *extra)
        bias = self.bias.view(-1, *extra)
        return F.softplus(history_drive + gain * rates.clamp_min(RATE_FLOOR).log() + bias)

    def forward(self, spikes: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """One-step-ahead intensities (B, N, T) given the observed spike history."""
        check_counts_and_rates(spikes, rates)
        if spikes.shape[1] != self.history.shape[0]:
            raise ValueError(
                f"model has {self.history.shape[0]} neurons, data has {spikes.shape[1]}"
            )
        return self.intensity(self.history_drive(spikes), rates)


def history_nll(model: SpikeHistoryGLM, spikes: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
    """Poisson NLL (mean) over the bins t ≥ history_bins, whose history is fully observed.

    As the authors' fit: the first `history_bins` bins are context only, never targets, so no
    zero-padded history enters the fit.
    """
    check_counts_and_rates(spikes, rates)
    h = model.history_bins
    if spikes.shape[-1] <= h:
        raise ValueError(
            f"spike-history fit needs more than history_bins={h} bins, got {spikes.shape[-1]}"
        )
    lam = model(spikes, rates)[..., h:]
    return F.poisson_nll_loss(lam, spikes[..., h:], log_input=False, full=True)


def fit_spike_history(
    spikes: torch.Tensor,
    rates: torch.Tensor,
    steps: int,
    lr: float = 0.1,
    weight_decay: float = 0.01,
    clip: float = 5,
    history_bins: int = HISTORY_BINS,
) -> SpikeHistoryGLM:
    """Fit the GLM by full-batch AdamW on the Poisson NLL; spikes are clipped at `clip`."""
    check_counts_and_rates(spikes, rates)
    spikes = spikes.float().clamp_max(clip)
    rates = rates.float()
    model = SpikeHistoryGLM(spikes.shape[1], history_bins).to(spikes.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = history_nll(model, spikes, rates)
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def sample_spike_history(
    model: SpikeHistoryGLM,
    rates: torch.Tensor,
    generator: torch.Generator | None = None,
    cap: int = 5,
) -> torch.Tensor:
    """Autoregressive spikes (B, N, T) driven by rates, from a zero history, counts ≤ cap."""
    if rates.ndim != 3 or rates.shape[1] != model.history.shape[0]:
        raise ValueError(
            f"rates must be (trials, {model.history.shape[0]}, time), got {tuple(rates.shape)}"
        )
    batch, neurons, length = rates.shape
    window = rates.new_zeros(batch, neurons, model.history_bins)  # column k−1 = lag k
    spikes = rates.new_zeros(batch, neurons, length)
    for t in range(length):
        drive = (window * model.history).sum(-1)
        lam = model.intensity(drive, rates[..., t])
        draw_device = generator.device if generator is not None else lam.device
        counts = torch.poisson(lam.to(draw_device), generator=generator).to(lam.device)
        spikes[..., t] = counts.clamp_max(cap)
        window = torch.cat([spikes[..., t : t + 1], window[..., :-1]], dim=-1)
    return spikes
