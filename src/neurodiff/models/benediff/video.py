"""BeNeDiff's behaviour-video side: frame autoencoder, space-time U-Net, linear neural encoder.

reference/benediff.md §3.2–3.4. Frames (views, H, W) are compressed by a small convolutional
autoencoder to a latent map (C, h, w) per frame (the authors' diffusion model runs on 1×4×4
maps); a video diffusion model generates sequences of these maps (B, C, T, h, w) with a
factorised space-time U-Net (residual blocks with a spatial then a temporal convolution,
spatial attention within a frame, temporal attention across frames with a learned relative
position bias; spatial-only down/up-sampling, as the authors' Unet3D). A linear map from a
frame's code to one region's LVM latents (ridge regression) turns generated videos into neural
latent trajectories; guidance raises the variance over time of one latent factor
(`latent_variance_objective`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- frame autoencoder

LEAK = 0.1


class FrameAutoencoder(nn.Module):
    """Conv autoencoder: frames (B, V, H, W) in [0, 1] ↔ latent maps (B, C, H/2^L, W/2^L).

    The encoder halves the resolution with each 5×5 stride-2 convolution (`channels` gives
    their widths, L = len(channels)) and projects to `latent_channels` with a 1×1 convolution;
    the decoder mirrors it with transposed convolutions and ends in a sigmoid. Leaky ReLUs
    (the authors': ReLU) keep small models from dying units on sparse frames.
    """

    def __init__(
        self, n_views: int, frame_size: int, channels: Sequence[int], latent_channels: int = 1
    ) -> None:
        super().__init__()
        if frame_size % 2 ** len(channels):
            raise ValueError(
                f"frame_size={frame_size} must be divisible by "
                f"2**len(channels) = {2 ** len(channels)}"
            )
        self.n_views, self.frame_size = n_views, frame_size
        self.latent_channels = latent_channels
        self.latent_size = frame_size // 2 ** len(channels)
        widths = [n_views, *channels]
        down: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            down += [nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.LeakyReLU(LEAK)]
        self.encoder = nn.Sequential(*down, nn.Conv2d(widths[-1], latent_channels, 1))
        up: list[nn.Module] = [nn.Conv2d(latent_channels, widths[-1], 1), nn.LeakyReLU(LEAK)]
        for c_in, c_out in zip(widths[:0:-1], widths[-2::-1], strict=True):
            up += [
                nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1),
                nn.LeakyReLU(LEAK),
            ]
        up[-1] = nn.Sigmoid()
        self.decoder = nn.Sequential(*up)

    @property
    def code_shape(self) -> tuple[int, int, int]:
        """Shape (C, h, w) of one frame's latent map."""
        return self.latent_channels, self.latent_size, self.latent_size

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Latent maps (B, C, h, w) of frames (B, V, H, W)."""
        expected = (self.n_views, self.frame_size, self.frame_size)
        if frames.ndim != 4 or tuple(frames.shape[1:]) != expected:
            raise ValueError(f"frames must be (B, {expected}), got {tuple(frames.shape)}")
        return self.encoder(frames)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Frames (B, V, H, W) in [0, 1] of latent maps (B, C, h, w)."""
        return self.decoder(codes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Reconstruct frames through the bottleneck."""
        return self.decode(self.encode(frames))


def frames_to_float(video: np.ndarray) -> torch.Tensor:
    """uint8 frames (..., V, H, W) as float32 in [0, 1]."""
    return torch.from_numpy(np.asarray(video, dtype=np.float32) / 255.0)


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Frames in [0, 1] as uint8 (values outside are clipped)."""
    return np.rint(255.0 * frames.detach().clamp(0, 1).cpu().numpy()).astype(np.uint8)


def _device_of(module: nn.Module) -> torch.device:
    """The device a module's parameters live on."""
    return next(module.parameters()).device


def _frame_batches(
    autoencoder: FrameAutoencoder,
    flat: np.ndarray | torch.Tensor,
    batch_size: int,
    step: Callable[[Any, torch.device], np.ndarray],
) -> np.ndarray:
    """`step(chunk, device)` over chunks of `batch_size` frames, the autoencoder in eval mode on
    its device, concatenated."""
    autoencoder.eval()
    device = _device_of(autoencoder)
    return np.concatenate(
        [step(flat[i : i + batch_size], device) for i in range(0, len(flat), batch_size)]
    )


@torch.no_grad()
def encode_video(
    autoencoder: FrameAutoencoder, video: np.ndarray, batch_size: int = 1024
) -> np.ndarray:
    """Codes (n, C, T, h, w) of uint8 videos (n, T, V, H, W), frame by frame, on the
    autoencoder's device."""
    n, t = video.shape[:2]
    codes = _frame_batches(
        autoencoder,
        video.reshape(n * t, *video.shape[2:]),
        batch_size,
        lambda chunk, device: autoencoder.encode(frames_to_float(chunk).to(device)).cpu().numpy(),
    )
    stacked = codes.reshape(n, t, *autoencoder.code_shape)
    return np.ascontiguousarray(stacked.transpose(0, 2, 1, 3, 4))


@torch.no_grad()
def decode_video(
    autoencoder: FrameAutoencoder, codes: torch.Tensor, batch_size: int = 1024
) -> np.ndarray:
    """uint8 videos (n, T, V, H, W) of code sequences (n, C, T, h, w), decoded on the
    autoencoder's device."""
    n, c, t, h, w = codes.shape
    frames = _frame_batches(
        autoencoder,
        codes.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w),
        batch_size,
        lambda chunk, device: frames_to_uint8(autoencoder.decode(chunk.to(device))),
    )
    return frames.reshape(n, t, *frames.shape[1:])


@dataclass(frozen=True)
class CodeScaler:
    """Per-element affine map of codes onto [−1, 1] from their training range (authors: [0, 1]
    then [−1, 1]); `low`/`high` have a code's shape (C, h, w)."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray) -> CodeScaler:
        """Range of training codes (n, C, T, h, w) per code element."""
        low, high = codes.min(axis=(0, 2)), codes.max(axis=(0, 2))
        return cls(low.astype(np.float32), np.maximum(high, low + 1e-6).astype(np.float32))

    def _broadcast(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = torch.as_tensor(self.low, dtype=like.dtype, device=like.device)[:, None]
        high = torch.as_tensor(self.high, dtype=like.dtype, device=like.device)[:, None]
        return low, high

    def to_unit(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (n, C, T, h, w) → [−1, 1]."""
        low, high = self._broadcast(codes)
        return 2.0 * (codes - low) / (high - low) - 1.0

    def from_unit(self, scaled: torch.Tensor) -> torch.Tensor:
        """Inverse of `to_unit`."""
        low, high = self._broadcast(scaled)
        return low + 0.5 * (scaled + 1.0) * (high - low)


# ---------------------------------------------------------------- space-time U-Net


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features (B, dim) of diffusion steps t (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs
    return torch.cat([args.sin(), args.cos()], dim=-1)


def _groups(channels: int, max_groups: int) -> int:
    """The largest group count <= max_groups that divides `channels`."""
    return next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)


class SpaceTimeResBlock(nn.Module):
    """Residual block: spatial 3×3 conv, timestep scale-shift, temporal 3-tap conv."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.spatial = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time_scale_shift = nn.Linear(time_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.temporal = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """x (B, C, T, h, w), t_emb (B, time_dim)."""
        h = _per_frame(self.spatial, F.silu(self.norm1(x)))
        scale, shift = self.time_scale_shift(F.silu(t_emb))[:, :, None, None, None].chunk(2, 1)
        h = F.silu(self.norm2(h) * (1 + scale) + shift)
        return self.skip(x) + _per_location(self.temporal, h)


def _per_frame(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D layer to every frame of x (B, C, T, h, w)."""
    b, _, t = x.shape[:3]
    y = layer(x.transpose(1, 2).flatten(0, 1))
    return y.unflatten(0, (b, t)).transpose(1, 2)


def _per_location(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 1-D (temporal) layer at every spatial location of x (B, C, T, h, w)."""
    b, c, t, h, w = x.shape
    y = layer(x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, t))
    return y.reshape(b, h, w, -1, t).permute(0, 3, 4, 1, 2)


class FactorisedAttention(nn.Module):
    """Multi-head self-attention over one axis: "space" (h·w tokens per frame) or "time" (T
    tokens per location, with a learned bias per clipped relative distance)."""

    def __init__(
        self, channels: int, axis: str, heads: int, dim_head: int, max_distance: int = 32
    ) -> None:
        super().__init__()
        if axis not in ("space", "time"):
            raise ValueError(f"axis must be 'space' or 'time', got {axis!r}")
        self.axis, self.heads, self.max_distance = axis, heads, max_distance
        inner = heads * dim_head
        self.norm = nn.LayerNorm(channels)
        self.to_qkv = nn.Linear(channels, 3 * inner, bias=False)
        self.to_out = nn.Linear(inner, channels)
        self.relative_bias = nn.Embedding(2 * max_distance + 1, heads) if axis == "time" else None

    def _bias(self, length: int, device: torch.device) -> torch.Tensor | None:
        """(heads, L, L) learned bias of the clipped offset j − i (temporal attention only)."""
        if self.relative_bias is None:
            return None
        pos = torch.arange(length, device=device)
        offset = (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance)
        return self.relative_bias(offset + self.max_distance).permute(2, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, T, h, w) plus attention along `axis`."""
        b, c, t, h, w = x.shape
        if self.axis == "space":
            tokens = x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
        else:
            tokens = x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)
        q, k, v = self.to_qkv(self.norm(tokens)).chunk(3, dim=-1)
        q, k, v = (z.unflatten(-1, (self.heads, -1)).transpose(1, 2) for z in (q, k, v))
        bias = self._bias(tokens.shape[1], x.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = self.to_out(out.transpose(1, 2).flatten(2))
        if self.axis == "space":
            out = out.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)
        else:
            out = out.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
        return x + out


class UNetStage(nn.Module):
    """Residual blocks, then spatial attention (if the maps have more than one pixel) and
    temporal attention."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        size: int,
        time_dim: int,
        heads: int,
        dim_head: int,
        groups: int,
        blocks: int = 2,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SpaceTimeResBlock(c_in if i == 0 else c_out, c_out, time_dim, groups)
            for i in range(blocks)
        )
        self.space_attention = (
            FactorisedAttention(c_out, "space", heads, dim_head) if size > 1 else nn.Identity()
        )
        self.time_attention = FactorisedAttention(c_out, "time", heads, dim_head)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """x (B, c_in, T, h, w) → (B, c_out, T, h, w)."""
        for block in self.blocks:
            x = block(x, t_emb)
        return self.time_attention(self.space_attention(x))


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of the space-time U-Net on (channels, T, size, size) code videos (authors: 1×4×4
    maps, dim 32, mults (1, 2, 4), 8 heads of 16, GroupNorm groups 8, 2 blocks per stage)."""

    channels: int = 1
    size: int = 4
    dim: int = 32
    dim_mults: tuple[int, ...] = (1, 2, 4)
    heads: int = 8
    dim_head: int = 16
    groups: int = 8
    blocks_per_stage: int = 2

    def stage_sizes(self) -> list[int]:
        """Map size at each stage: halved after every stage but the last while above 1."""
        sizes = [self.size]
        for _ in self.dim_mults[1:]:
            if sizes[-1] > 1 and sizes[-1] % 2:
                raise ValueError(f"UNetConfig.size={self.size} cannot be halved to 1")
            sizes.append(max(1, sizes[-1] // 2))
        return sizes


class _Resample(nn.Module):
    """Spatial-only (T kept) down- or up-sampling by 2 of (B, C, T, h, w)."""

    def __init__(self, channels: int, down: bool) -> None:
        super().__init__()
        layer = nn.Conv2d if down else nn.ConvTranspose2d
        self.layer = layer(channels, channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Resample every frame."""
        return _per_frame(self.layer, x)


class SpaceTimeUNet(nn.Module):
    """ε-prediction network on code videos: forward(x_t (B, C, T, h, w), t (B,), cond) → ε̂.

    Stage i works on maps of size `config.stage_sizes()[i]` (spatial-only resampling between
    stages, as the authors' 4×4 → 2×2 → 1×1); the decoder mirrors the encoder with skip
    connections. Any number of frames T works.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        dims = [config.dim * m for m in config.dim_mults]
        sizes = config.stage_sizes()
        time_dim = 4 * config.dim
        stage = dict(
            time_dim=time_dim,
            heads=config.heads,
            dim_head=config.dim_head,
            groups=config.groups,
            blocks=config.blocks_per_stage,
        )
        self.time_mlp = nn.Sequential(
            nn.Linear(config.dim, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim)
        )
        self.input_conv = nn.Conv3d(config.channels, config.dim, 1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        c_prev = config.dim
        for i, (c, size) in enumerate(zip(dims, sizes, strict=True)):
            self.down.append(UNetStage(c_prev, c, size, **stage))
            halves = i + 1 < len(dims) and sizes[i + 1] < size
            self.downsample.append(_Resample(c, down=True) if halves else nn.Identity())
            c_prev = c
        self.middle = UNetStage(c_prev, c_prev, sizes[-1], **stage)
        for i in reversed(range(len(dims))):
            doubles = i + 1 < len(dims) and sizes[i + 1] < sizes[i]
            self.upsample.append(_Resample(c_prev, down=False) if doubles else nn.Identity())
            self.up.append(UNetStage(c_prev + dims[i], dims[i], sizes[i], **stage))
            c_prev = dims[i]
        self.output = nn.Sequential(
            nn.GroupNorm(_groups(c_prev, config.groups), c_prev),
            nn.SiLU(),
            nn.Conv3d(c_prev, config.channels, 1),
        )
        nn.init.zeros_(self.output[-1].weight)
        nn.init.zeros_(self.output[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: object = None) -> torch.Tensor:
        """Predict the noise of x_t (B, C, T, h, w) at diffusion steps t (B,)."""
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.channels or x.shape[3:] != (cfg.size, cfg.size):
            raise ValueError(
                f"x must be (B, {cfg.channels}, T, {cfg.size}, {cfg.size}), got {tuple(x.shape)}"
            )
        t_emb = self.time_mlp(sinusoidal_embedding(t, cfg.dim))
        h = self.input_conv(x)
        skips = []
        for stage, downsample in zip(self.down, self.downsample, strict=True):
            h = stage(h, t_emb)
            skips.append(h)
            h = downsample(h)
        h = self.middle(h, t_emb)
        for stage, upsample in zip(self.up, self.upsample, strict=True):
            h = stage(torch.cat([upsample(h), skips.pop()], dim=1), t_emb)
        return self.output(h)


# ---------------------------------------------------------------- linear encoder and guidance


@dataclass(frozen=True)
class AffineMap:
    """y = W x + b on the last axis: (..., d_in) → (..., d_out)."""

    weight: np.ndarray
    bias: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Map samples (..., d_in) to (..., d_out)."""
        return x @ self.weight.T + self.bias


LinearEncoder = AffineMap  # per frame: flattened frame code (D,) → K neural latents, a = W v + b


def fit_linear_encoder(codes: np.ndarray, latents: np.ndarray, alpha: float) -> LinearEncoder:
    """Ridge regression (penalty `alpha`, unpenalised intercept) from codes (n, D) to (n, K)."""
    if codes.ndim != 2 or latents.ndim != 2 or len(codes) != len(latents):
        raise ValueError(
            f"codes (n, D) and latents (n, K) must share n, got {codes.shape}, {latents.shape}"
        )
    code_mean, latent_mean = codes.mean(0), latents.mean(0)
    xc, yc = codes - code_mean, latents - latent_mean
    gram = xc.T @ xc + alpha * np.eye(codes.shape[1])
    weight = np.linalg.solve(gram, xc.T @ yc).T
    return LinearEncoder(
        weight.astype(np.float32), (latent_mean - weight @ code_mean).astype(np.float32)
    )


def flatten_frame_codes(codes: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Code videos (n, C, T, h, w) as per-frame vectors (n, T, C·h·w)."""
    n, c, t, h, w = codes.shape
    if isinstance(codes, torch.Tensor):
        return codes.permute(0, 2, 1, 3, 4).reshape(n, t, c * h * w)
    return codes.transpose(0, 2, 1, 3, 4).reshape(n, t, c * h * w)


def latent_variance_objective(directions: torch.Tensor, clip_range: float = 1.0):
    """J(x̂₀)_b = Var_t(d_bᵀ v_t): the variance over time of the latent factor read out by
    direction d_b (B, D) (row k of the linear encoder) from the code video x̂₀ (B, C, T, h, w).

    x̂₀ is clipped to the data range [−clip_range, clip_range] first, as the sampler clips it:
    at the noisiest steps x̂₀ = (x_t − √(1−ᾱ)ε̂)/√ᾱ is far outside it and would otherwise make
    the gradient (2/T)(a_t − ā)·d explode.
    """

    def objective(x0: torch.Tensor) -> torch.Tensor:
        frames = flatten_frame_codes(x0.clamp(-clip_range, clip_range))
        factor = (frames * directions[:, None, :].to(x0)).sum(-1)
        return factor.var(dim=1, unbiased=False)

    return objective
