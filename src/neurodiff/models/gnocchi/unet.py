"""A 1-D U-Net over time with neurons as channels, conditioned on the step t and a code c.

InfoDiffusion's image U-Net (DDPM style: ResBlocks, GroupNorm, SiLU, down/up-sampling,
self-attention at a coarse level) with every Conv2d replaced by a Conv1d over time bins
(gnocchi.md §3.2, §4). Input and output are (B, N, T): N neurons as channels, T bins.

Conditioning (AdaGN): the sinusoidal step embedding and an embedding of the code are
concatenated into one vector e = [emb(t), emb(c)]; in every ResBlock a linear map of SiLU(e)
gives a per-channel scale s and shift b, and the block's second normalisation is
GN(h)·(1 + s) + b. T is padded at the end to a multiple of 2^(levels − 1) and the output cropped
back, so any number of bins works (e.g. MC_Maze's 140 bins with four levels).

Absolute-time embedding (our choice; InfoDiffusion's image U-Net and the GNOCCHI abstract are
silent): with `bin_embedding=True` a sinusoidal embedding of each bin's index (0 … T−1, bins
from trial start) is mapped linearly to the first level's width and added after the input
convolution. Convolutions alone are translation-equivariant, so without it the network cannot
tie the code to *when* activity happens in the trial (trials are aligned to a fixed event).

Per-neuron filter path (an addition to InfoDiffusion's U-Net): with neurons as channels, a
small U-Net has fewer channels than neurons and cannot carry every neuron's independent noise
through its first convolution. So ε̂ = U-Net(x_t, t, c) + F_t(x_t), where F_t filters each
neuron's own trace with a depthwise kernel of `filter_kernel` taps predicted from the step
embedding (zero at initialisation). For Gaussian, stationary noise independent across neurons
the optimal denoiser is exactly such a step-dependent per-neuron (Wiener) filter, so the U-Net
only has to model the shared, code-dependent structure. `filter_kernel=0` removes the path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.nn import timestep_embedding


def group_norm(channels: int, groups: int, affine: bool = True) -> nn.GroupNorm:
    """GroupNorm with at most `groups` groups, reduced until it divides `channels`."""
    n = min(groups, channels)
    while channels % n:
        n -= 1
    return nn.GroupNorm(n, channels, affine=affine)


class AdaGroupNorm(nn.Module):
    """GroupNorm whose scale and shift are predicted from the conditioning vector."""

    def __init__(self, channels: int, groups: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, groups, affine=False)
        self.modulation = nn.Linear(cond_dim, 2 * channels)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """GN(h)·(1 + s) + b with (s, b) = Linear(SiLU(cond)); h (B, C, T), cond (B, cond_dim)."""
        scale, shift = self.modulation(F.silu(cond)).unsqueeze(-1).chunk(2, dim=1)
        return self.norm(h) * (1 + scale) + shift


class ResBlock1d(nn.Module):
    """GN → SiLU → conv → AdaGN(t, c) → SiLU → dropout → conv, plus a (1×1) skip path."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv1d(in_ch, out_ch, 3, padding=1)
        self.norm2 = AdaGroupNorm(out_ch, groups, cond_dim)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Residual update of x (B, in_ch, T) → (B, out_ch, T)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h, cond))))
        return self.skip(x) + h


class TimeAttention(nn.Module):
    """Residual multi-head self-attention across time bins (GN on the input)."""

    def __init__(self, channels: int, groups: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention: {channels} channels not divisible by {heads} heads")
        self.norm = group_norm(channels, groups)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, T) plus attention over its T positions."""
        h = self.norm(x).transpose(1, 2)
        out, _ = self.attention(h, h, h, need_weights=False)
        return x + out.transpose(1, 2)


class Downsample1d(nn.Module):
    """Halve the time resolution with a stride-2 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, C, T/2)."""
        return self.conv(x)


class Upsample1d(nn.Module):
    """Double the time resolution: nearest-neighbour repeat, then a convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, C, 2T)."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class NeuronFilter(nn.Module):
    """Step-dependent depthwise temporal filter of each neuron's trace (module docstring)."""

    def __init__(self, n_neurons: int, kernel: int, embed_dim: int) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"filter_kernel must be odd and >= 1 (or 0 for none), got {kernel}")
        self.n_neurons, self.kernel = n_neurons, kernel
        self.taps = nn.Linear(embed_dim, n_neurons * kernel)
        nn.init.zeros_(self.taps.weight)
        nn.init.zeros_(self.taps.bias)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """Filtered x (B, N, T): Σ_j w_j(t)·x[..., τ + j − k//2] per neuron, zero-padded."""
        weights = self.taps(t_emb).view(-1, self.n_neurons, 1, self.kernel)
        windows = F.pad(x, (self.kernel // 2, self.kernel // 2)).unfold(-1, self.kernel, 1)
        return (windows * weights).sum(dim=-1)


class TimeUNet1d(nn.Module):
    """ε̂(x_t, t, c): the conditional denoiser of GNOCCHI (module docstring)."""

    def __init__(
        self,
        n_neurons: int,
        code_dim: int,
        channels: int = 16,
        channel_mult: Sequence[int] = (1, 2),
        res_blocks: int = 1,
        groups: int = 8,
        embed_dim: int = 64,
        attention: bool = False,
        attention_heads: int = 1,
        dropout: float = 0.0,
        filter_kernel: int = 5,
        bin_embedding: bool = True,
    ) -> None:
        super().__init__()
        if not channel_mult or min(channel_mult) < 1 or res_blocks < 1 or code_dim < 1:
            raise ValueError(
                f"need channel_mult >= 1 per level, res_blocks >= 1 and code_dim >= "
                f"1; got {list(channel_mult)}, {res_blocks}, {code_dim}"
            )
        self.n_neurons, self.code_dim, self.embed_dim = n_neurons, code_dim, embed_dim
        self.levels = len(channel_mult)
        self.time_mlp = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )
        self.code_mlp = nn.Sequential(
            nn.Linear(code_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )
        cond_dim = 2 * embed_dim
        widths = [channels * m for m in channel_mult]
        self.input_conv = nn.Conv1d(n_neurons, channels, 3, padding=1)
        self.bin_embed = nn.Linear(embed_dim, channels, bias=False) if bin_embedding else None

        def block(cin: int, cout: int) -> ResBlock1d:
            return ResBlock1d(cin, cout, cond_dim, groups, dropout)

        self.down = nn.ModuleList()
        skip_widths, width = [channels], channels
        for level, out_width in enumerate(widths):
            for _ in range(res_blocks):
                self.down.append(block(width, out_width))
                width = out_width
                skip_widths.append(width)
            if level < self.levels - 1:
                self.down.append(Downsample1d(width))
                skip_widths.append(width)
        self.mid = nn.ModuleList([block(width, width), block(width, width)])
        self.mid_attention = TimeAttention(width, groups, attention_heads) if attention else None
        self.up = nn.ModuleList()
        for level in reversed(range(self.levels)):
            for _ in range(res_blocks + 1):
                self.up.append(block(width + skip_widths.pop(), widths[level]))
                width = widths[level]
            if level > 0:
                self.up.append(Upsample1d(width))
        self.output = nn.Sequential(
            group_norm(width, groups), nn.SiLU(), nn.Conv1d(width, n_neurons, 3, padding=1)
        )
        self.neuron_filter = (
            NeuronFilter(n_neurons, filter_kernel, embed_dim) if filter_kernel else None
        )

    def conditioning(
        self, t: torch.Tensor, code: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(AdaGN conditioning vector [emb(t), emb(c)] (B, 2·embed_dim), step embedding emb(t))."""
        if code.ndim != 2 or code.shape[1] != self.code_dim:
            raise ValueError(f"code must be (batch, {self.code_dim}), got {tuple(code.shape)}")
        t_emb = self.time_mlp(timestep_embedding(t, self.embed_dim).to(code.dtype))
        return torch.cat([t_emb, self.code_mlp(code)], dim=1), t_emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """ε̂ (B, N, T) for noisy activity x (B, N, T), steps t (B,) and codes (B, code_dim)."""
        if x.ndim != 3 or x.shape[1] != self.n_neurons:
            raise ValueError(
                f"x must be (batch, {self.n_neurons} neurons, time), got {tuple(x.shape)}"
            )
        n_bins = x.shape[-1]
        multiple = 2 ** (self.levels - 1)
        h = F.pad(x, (0, -n_bins % multiple))
        cond, t_emb = self.conditioning(t, code)
        h = self.input_conv(h)
        if self.bin_embed is not None:
            bins = torch.arange(h.shape[-1], device=h.device)
            h = h + self.bin_embed(timestep_embedding(bins, self.embed_dim).to(h.dtype)).T
        skips = [h]
        for layer in self.down:
            h = layer(h, cond) if isinstance(layer, ResBlock1d) else layer(h)
            skips.append(h)
        h = self.mid[0](h, cond)
        if self.mid_attention is not None:
            h = self.mid_attention(h)
        h = self.mid[1](h, cond)
        for layer in self.up:
            if isinstance(layer, ResBlock1d):
                h = layer(torch.cat([h, skips.pop()], dim=1), cond)
            else:
                h = layer(h)
        out = self.output(h)[..., :n_bins]
        if self.neuron_filter is not None:
            out = out + self.neuron_filter(x, t_emb)
        return out
