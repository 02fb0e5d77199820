"""LDNS autoencoder: spike counts (B, C_in, L) → time-aligned latents (B, d, L) → Poisson rates.

Encoder: pointwise input projection, N pre-norm residual blocks (an S4 time mixer and an MLP
channel mixer), then a grouped pointwise bottleneck to d latent channels. Decoder: pointwise
in time (grouped expansion, GELU, projection to the input channels), softplus → rates. All
temporal structure therefore lives in the latents, which the diffusion model learns.

Training loss (`autoencoder_loss`): coordinated dropout, Poisson NLL scored only on the
dropped entries, plus an L2 and a temporal-smoothness penalty on the latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.nn import S4D

TD_LAGS = 5


class ShiftScale(nn.Module):
    """x·(1 + scale) + shift with per-channel parameters, zero-initialised (identity at start)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(channels, 1))
        self.scale = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the learned affine map to x (B, C, L)."""
        return torch.addcmul(self.shift, x, 1 + self.scale)


class TimeMixer(nn.Module):
    """InstanceNorm → shift/scale → S4 → GELU → depthwise pointwise scale."""

    def __init__(self, channels: int, d_state: int, bidirectional: bool, s4_init: str) -> None:
        super().__init__()
        self.modulation = ShiftScale(channels)
        self.s4 = S4D(channels, d_state, bidirectional=bidirectional, init=s4_init)
        self.out = nn.Conv1d(channels, channels, 1, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The time-mixing residual branch for x (B, C, L)."""
        h = self.modulation(F.instance_norm(x))
        return self.out(F.gelu(self.s4(h)))


class PointwiseMLP(nn.Module):
    """Per-time-bin MLP C → hidden → C with GELU, on (B, C, L) tensors."""

    def __init__(self, channels: int, hidden: int, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to every time bin of x (B, C, L)."""
        # Channels-last matmuls are the fastest layout for this on CPU.
        h = self.fc2(F.gelu(self.fc1(x.transpose(1, 2))))
        return h.transpose(1, 2)


class ChannelMixer(nn.Module):
    """InstanceNorm → shift/scale → MLP C → 2C → C (GELU, no bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.modulation = ShiftScale(channels)
        self.mlp = PointwiseMLP(channels, 2 * channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The channel-mixing residual branch for x (B, C, L)."""
        return self.mlp(self.modulation(F.instance_norm(x)))


class AutoencoderBlock(nn.Module):
    """Pre-norm residual block: x + time_mixer(x), then + channel_mixer(·)."""

    def __init__(self, channels: int, d_state: int, bidirectional: bool, s4_init: str) -> None:
        super().__init__()
        self.time_mixer = TimeMixer(channels, d_state, bidirectional, s4_init)
        self.channel_mixer = ChannelMixer(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Both residual updates of x (B, C, L)."""
        x = x + self.time_mixer(x)
        return x + self.channel_mixer(x)


class S4Autoencoder(nn.Module):
    """The LDNS autoencoder; `forward(spikes)` returns (rates, latents)."""

    def __init__(
        self,
        input_channels: int,
        hidden_channels: int,
        latent_channels: int,
        num_blocks: int,
        bidirectional: bool = True,
        d_state: int = 80,
        s4_init: str = "lin",
    ) -> None:
        super().__init__()
        if hidden_channels % latent_channels:
            raise ValueError(
                f"hidden_channels ({hidden_channels}) must be a multiple of latent_channels "
                f"({latent_channels}) for the grouped bottleneck"
            )
        self.input_channels = input_channels
        self.latent_channels = latent_channels
        self.embed = nn.Conv1d(input_channels, hidden_channels, 1)
        self.blocks = nn.ModuleList(
            AutoencoderBlock(hidden_channels, d_state, bidirectional, s4_init)
            for _ in range(num_blocks)
        )
        self.bottleneck = nn.Conv1d(hidden_channels, latent_channels, 1, groups=latent_channels)
        self.expand = nn.Conv1d(latent_channels, hidden_channels, 1, groups=latent_channels)
        self.readout = nn.Conv1d(hidden_channels, input_channels, 1)

    def encode(self, spikes: torch.Tensor) -> torch.Tensor:
        """Spike counts (B, C_in, L) → latents (B, d, L)."""
        if spikes.ndim != 3 or spikes.shape[1] != self.input_channels:
            raise ValueError(
                f"autoencoder expects spikes (batch, {self.input_channels}, length), "
                f"got {tuple(spikes.shape)}"
            )
        h = self.embed(spikes)
        for block in self.blocks:
            h = block(h)
        return self.bottleneck(h)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, d, L) → Poisson rates (B, C_in, L), pointwise in time."""
        if latents.ndim != 3 or latents.shape[1] != self.latent_channels:
            raise ValueError(
                f"decoder expects latents (batch, {self.latent_channels}, length), "
                f"got {tuple(latents.shape)}"
            )
        return F.softplus(self.readout(F.gelu(self.expand(latents))))

    def forward(self, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode then decode: (rates (B, C_in, L), latents (B, d, L))."""
        latents = self.encode(spikes)
        return self.decode(latents), latents


@dataclass
class AutoencoderLoss:
    """The scalar training loss and its parts (all already weighted)."""

    total: torch.Tensor
    poisson: torch.Tensor
    latent_l2: torch.Tensor
    latent_smoothness: torch.Tensor


def coordinated_dropout(
    spikes: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop each entry with probability p, rescale the kept ones by 1/(1−p).

    Returns (inputs, dropped) with `dropped` a float 0/1 tensor shaped like `spikes`.
    """
    if not 0 <= p < 1:
        raise ValueError(f"coordinated dropout probability must be in [0, 1), got {p}")
    draw_device = generator.device if generator is not None else spikes.device
    uniform = torch.rand(spikes.shape, generator=generator, device=draw_device)
    dropped = (uniform.to(spikes.device) < p).to(spikes.dtype)
    return spikes * (1 - dropped) / (1 - p), dropped


def observed_bins(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """The observation mask as a float (B, 1, L) tensor (all ones when mask is None)."""
    batch, _, length = like.shape
    if mask is None:
        return like.new_ones(batch, 1, length)
    if mask.ndim == 2:
        mask = mask.unsqueeze(1)
    if mask.shape != (batch, 1, length):
        raise ValueError(
            f"mask must have shape ({batch}, {length}) or ({batch}, 1, {length}), "
            f"got {tuple(mask.shape)}"
        )
    return mask.to(like.dtype)


def latent_penalty(
    latents: torch.Tensor,
    latent_beta: float,
    td_beta: float,
    numel: int | torch.Tensor,
    observed: torch.Tensor | None = None,
    td_lags: int = TD_LAGS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(latent_beta·Σz²/numel, td_beta·Σ_{k=1..K} Σ_t (z_t − z_{t+k})²/(1+k)/numel).

    `observed` (B, 1, L) restricts both sums to observed bins (pairs need both ends observed).
    """
    weights = observed if observed is not None else torch.ones_like(latents[:, :1])
    l2 = latent_beta * (latents.square() * weights).sum() / numel
    smoothness = latents.new_zeros(())
    for k in range(1, min(td_lags, latents.shape[-1] - 1) + 1):
        pair_weights = weights[..., k:] * weights[..., :-k]
        diffs = (latents[..., :-k] - latents[..., k:]).square() * pair_weights
        smoothness = smoothness + diffs.sum() / (1 + k)
    return l2, td_beta * smoothness / numel


def autoencoder_loss(
    model: S4Autoencoder,
    spikes: torch.Tensor,
    dropout_p: float,
    latent_beta: float,
    td_beta: float,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    td_lags: int = TD_LAGS,
) -> AutoencoderLoss:
    """LDNS autoencoder objective on spike counts (B, C_in, L).

    Poisson NLL (full, rates as input) on the entries hidden by coordinated dropout, summed
    and divided by numel = observed bins × C_in (the mean over all elements when nothing is
    padded); with dropout_p = 0 (validation) every entry is scored. `mask` (B, L) or
    (B, 1, L) marks observed bins of variable-length trials.
    """
    observed = observed_bins(mask, spikes)
    numel = observed.sum() * spikes.shape[1]
    if dropout_p > 0:
        inputs, scored = coordinated_dropout(spikes, dropout_p, generator)
    else:
        inputs, scored = spikes, torch.ones_like(spikes)
    rates, latents = model(inputs)
    nll = F.poisson_nll_loss(rates, spikes, log_input=False, full=True, reduction="none")
    poisson = (nll * scored * observed).sum() / numel
    l2, smoothness = latent_penalty(latents, latent_beta, td_beta, numel, observed, td_lags)
    return AutoencoderLoss(poisson + l2 + smoothness, poisson, l2, smoothness)


@dataclass
class LatentNormalizer:
    """Per-channel standardisation of latents for the diffusion model, optional clipping."""

    mean: torch.Tensor
    std: torch.Tensor
    clip: float | None = None

    def normalize(self, latents: torch.Tensor) -> torch.Tensor:
        """(z − mean)/std per channel of (B, d, L), clipped to ±clip when set."""
        z = (latents - self.mean.to(latents).unsqueeze(-1)) / self.std.to(latents).unsqueeze(-1)
        return z.clamp(-self.clip, self.clip) if self.clip is not None else z

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Map normalised latents back to the autoencoder's scale."""
        return z * self.std.to(z).unsqueeze(-1) + self.mean.to(z).unsqueeze(-1)


def fit_latent_normalizer(
    latents: torch.Tensor, mask: torch.Tensor | None = None, clip: float | None = None
) -> LatentNormalizer:
    """Mean and std per channel over (trials, time) of latents (N, d, L), observed bins only."""
    observed = observed_bins(mask, latents)
    count = observed.sum()
    if count < 2:
        raise ValueError("latent normalisation needs at least two observed bins")
    mean = (latents * observed).sum(dim=(0, 2)) / count
    centered = (latents - mean.unsqueeze(-1)) * observed
    std = (centered.square().sum(dim=(0, 2)) / (count - 1)).sqrt()
    if (std == 0).any():
        raise ValueError(
            f"latent channels {torch.nonzero(std == 0).flatten().tolist()} are constant"
        )
    if clip is not None and clip <= 0:
        raise ValueError(f"clip must be positive, got {clip}")
    return LatentNormalizer(mean, std, clip)
