"""LDNS latent denoiser: a DiT-like network with S4 time mixing, ε̂ = f(x_t, t, cond).

Each block modulates its two residual branches (S4 time mixer, MLP channel mixer) with
shift/scale/gate vectors computed from a conditioning vector (adaLN-Zero: the modulation
layer starts at zero, so every block starts as the identity). The conditioning vector is the
timestep embedding, plus an embedding of the reach angle when angle-conditioned. Time series
conditions (hand velocity, the observation mask of variable-length trials) enter as extra
input channels; the output keeps only the latent channels. Input and output 1×1 convolutions
are grouped (groups = input channels) where the hidden channel count is a multiple of the input
channel count, as in the authors' code; the output starts scaled by `output_init_scale`.

Condition dict (`cond`): "angle" (B,) radians, "velocity" (B, K, L), "mask" (B, 1, L).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.models.ldns.autoencoder import PointwiseMLP
from neurodiff.nn import S4D, timestep_embedding

TIMESTEP_FEATURES = 256
MODULATIONS = 6
# 2: output convolution grouped like the input (where channels divide), output_init_scale on
# weight and bias; format-1 weights (ungrouped, bias unscaled) are refused, never reinterpreted.
CHECKPOINT_FORMAT = 2


INSTANCE_NORM_EPS = 1e-5  # F.instance_norm's default


def instance_norm(x: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Per-channel normalisation over time of x (B, C, L), as `F.instance_norm` (no affine).

    With `window` (a diagnostic, `neurodiff.models.ldns.length_generalisation`), each run of
    `window` consecutive bins is normalised on its own statistics instead of the whole sequence's.
    """
    length = x.shape[-1]
    if window is None or length <= window:
        return F.instance_norm(x)
    if length % window:
        raise ValueError(f"sequence length {length} is not a multiple of the window {window}")
    runs = x.unflatten(-1, (length // window, window))
    mean = runs.mean(-1, keepdim=True)
    var = runs.var(-1, unbiased=False, keepdim=True)
    return ((runs - mean) * torch.rsqrt(var + INSTANCE_NORM_EPS)).flatten(-2)


class DenoiserBlock(nn.Module):
    """adaLN-Zero block: gated S4 branch, then gated MLP branch, both modulated by `c`."""

    def __init__(
        self, channels: int, cond_dim: int, d_state: int, bidirectional: bool, s4_init: str
    ) -> None:
        super().__init__()
        self.modulation = nn.Sequential(nn.GELU(), nn.Linear(cond_dim, MODULATIONS * channels))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)
        self.s4 = S4D(channels, d_state, bidirectional=bidirectional, init=s4_init)
        self.mlp = PointwiseMLP(channels, 2 * channels, bias=True)
        # None: normalise over the whole sequence, as LDNS (see `instance_norm`).
        self.norm_window: int | None = None

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Update x (B, C, L) given the conditioning vector c (B, cond_dim)."""
        mods = self.modulation(c).unsqueeze(-1).chunk(MODULATIONS, dim=1)
        shift_s4, scale_s4, gate_s4, shift_mlp, scale_mlp, gate_mlp = mods
        h = torch.addcmul(shift_s4, instance_norm(x, self.norm_window), 1 + scale_s4)
        x = torch.addcmul(x, gate_s4, F.gelu(self.s4(h)))
        h = torch.addcmul(shift_mlp, instance_norm(x, self.norm_window), 1 + scale_mlp)
        return torch.addcmul(x, gate_mlp, self.mlp(h))


class LatentDenoiser(nn.Module):
    """ε-prediction network on latents; `forward(x_t, t, cond)` → ε̂ (B, C_latent, L)."""

    def __init__(
        self,
        latent_channels: int,
        hidden_channels: int,
        num_blocks: int,
        bidirectional: bool = True,
        d_state: int = 80,
        s4_init: str = "lin",
        angle_conditioned: bool = False,
        velocity_channels: int = 0,
        masked: bool = False,
        output_init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if hidden_channels % 4:
            raise ValueError(f"hidden_channels must be a multiple of 4, got {hidden_channels}")
        self.latent_channels = latent_channels
        self.velocity_channels = velocity_channels
        self.masked = masked
        in_channels = latent_channels + velocity_channels + int(masked)
        groups = in_channels if hidden_channels % in_channels == 0 else 1
        cond_dim = hidden_channels // 4
        self.embed = nn.Conv1d(in_channels, hidden_channels, 1, groups=groups)
        self.time_mlp = nn.Sequential(
            nn.Linear(TIMESTEP_FEATURES, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim)
        )
        self.angle_mlp = (
            nn.Sequential(nn.Linear(2, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
            if angle_conditioned
            else None
        )
        self.blocks = nn.ModuleList(
            DenoiserBlock(hidden_channels, cond_dim, d_state, bidirectional, s4_init)
            for _ in range(num_blocks)
        )
        # grouped like the input embedding (the authors' architecture) where channels divide
        self.readout = nn.Conv1d(hidden_channels, in_channels, 1, groups=groups)
        with torch.no_grad():
            self.readout.weight.mul_(output_init_scale)
            self.readout.bias.mul_(output_init_scale)
        self.register_buffer("format_version", torch.tensor(CHECKPOINT_FORMAT))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        """Refuse weights of another checkpoint format with an error naming both formats."""
        found = state_dict.get(f"{prefix}format_version")
        found = None if found is None else int(found)
        if found != CHECKPOINT_FORMAT:
            raise ValueError(
                f"LDNS denoiser checkpoint has format {found or 1}, this code reads format "
                f"{CHECKPOINT_FORMAT} (grouped output convolution, x{0.1:g}-scaled output bias): "
                "retrain the denoiser (delete its run directory)"
            )
        super()._load_from_state_dict(state_dict, prefix, *args)

    def conditioning_vector(self, t: torch.Tensor, cond: dict | None) -> torch.Tensor:
        """Timestep embedding (+ angle embedding) → (B, C/4)."""
        c = self.time_mlp(timestep_embedding(t, TIMESTEP_FEATURES))
        if self.angle_mlp is not None:
            angle = cond["angle"].to(c.dtype)
            c = c + self.angle_mlp(torch.stack([angle.cos(), angle.sin()], dim=-1))
        return c

    def input_channels(self, x_t: torch.Tensor, cond: dict | None) -> torch.Tensor:
        """Concatenate the time-series conditions (velocity, mask) to the noisy latents."""
        parts = [x_t]
        if self.velocity_channels:
            parts.append(cond["velocity"].to(x_t.dtype))
        if self.masked:
            parts.append(cond["mask"].to(x_t.dtype))
        return torch.cat(parts, dim=1)

    def check_inputs(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict | None) -> None:
        """Raise a clear error when shapes or condition keys do not match the model."""
        if x_t.ndim != 3 or x_t.shape[1] != self.latent_channels:
            raise ValueError(
                f"denoiser expects x_t (batch, {self.latent_channels}, length), "
                f"got {tuple(x_t.shape)}"
            )
        batch, _, length = x_t.shape
        if t.shape != (batch,):
            raise ValueError(f"t must have shape ({batch},), got {tuple(t.shape)}")
        expected = {
            "angle": ((batch,), self.angle_mlp is not None),
            "velocity": ((batch, self.velocity_channels, length), self.velocity_channels > 0),
            "mask": ((batch, 1, length), self.masked),
        }
        given = cond or {}
        unknown = set(given) - set(expected)
        if unknown:
            raise ValueError(f"unknown condition keys {sorted(unknown)}; known: {list(expected)}")
        for key, (shape, used) in expected.items():
            if used and key not in given:
                raise ValueError(f"this denoiser is conditioned on {key!r} but cond lacks it")
            if not used and key in given:
                raise ValueError(f"cond has {key!r} but this denoiser was not built to use it")
            if used and tuple(given[key].shape) != shape:
                raise ValueError(
                    f"cond[{key!r}] must have shape {shape}, got {tuple(given[key].shape)}"
                )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict | None = None) -> torch.Tensor:
        """Predict the noise ε̂ (B, C_latent, L) in x_t at diffusion steps t (B,)."""
        self.check_inputs(x_t, t, cond)
        c = self.conditioning_vector(t, cond)
        h = self.embed(self.input_channels(x_t, cond))
        for block in self.blocks:
            h = block(h, c)
        # Only the latent channels are noise predictions; the condition channels are dropped.
        return self.readout(h)[:, : self.latent_channels]


def centered_offset(length: int, total_length: int) -> int:
    """Left padding that centres a trial of `length` bins in `total_length` bins."""
    if not 0 < length <= total_length:
        raise ValueError(f"trial length {length} must be in [1, {total_length}]")
    return (total_length - length) // 2


def center_pad(x: torch.Tensor, total_length: int) -> torch.Tensor:
    """Centre x (C, l) in total_length bins, repeating the edge values (replicate padding)."""
    left = centered_offset(x.shape[-1], total_length)
    right = total_length - x.shape[-1] - left
    return F.pad(x.unsqueeze(0), (left, right), mode="replicate").squeeze(0)


def centered_mask(lengths: torch.Tensor, total_length: int) -> torch.Tensor:
    """Masks (B, 1, total_length) that are 1 on a centred window of each trial's length."""
    bins = torch.arange(total_length, device=lengths.device)
    rows = []
    for length in lengths.tolist():
        left = centered_offset(int(length), total_length)
        rows.append((bins >= left) & (bins < left + int(length)))
    return torch.stack(rows).unsqueeze(1).float()


def center_crop(x: torch.Tensor, length: int) -> torch.Tensor:
    """Undo `center_pad`: the centred `length` bins of x (..., total_length)."""
    left = centered_offset(length, x.shape[-1])
    return x[..., left : left + length]
