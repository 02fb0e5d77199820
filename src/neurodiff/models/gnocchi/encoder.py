"""The auxiliary encoder of GNOCCHI: one trial (B, N, T) → one code c ∈ ℝ^L per trial.

Two bodies, chosen by `kind` (gnocchi.md §4): "conv", a stack of Conv1d(kernel) + GroupNorm +
SiLU over time; or "gru", a bidirectional GRU (the LFADS-style encoder used at SNEL). The
features are pooled over time by `pool` and mapped linearly to the code:
- "mean": the mean over time. Translation-invariant, so it cannot say *when* something happened;
  in the synthetic set (fixed reach distance) speed changes mainly timing.
- "attention" (default, our choice; the paper is silent): a sinusoidal embedding of the bin's
  relative position in the trial (0 … 1, so any trial length works) is added to the features,
  then `pool_heads` learned queries attend over time (softmax of a linear score per head) and
  the per-head weighted sums are concatenated. Position-aware, so the code can carry timing.
- "windows": the mean over each of `pool_windows` equal time windows, concatenated (a
  flattened projection of a time-coarsened feature map, as InfoDiffusion's image encoder
  flattens its last feature map).
With `stochastic=True` the head gives a mean and a log-variance instead (InfoDiffusion's KL
variant, kld_weight > 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurodiff.models.gnocchi.unet import group_norm
from neurodiff.nn import timestep_embedding

ENCODER_KINDS = ("conv", "gru")
POOLS = ("mean", "attention", "windows")
POSITION_SCALE = 100.0  # relative position 0 … 1 → 0 … 100 before the sinusoidal embedding


def position_embedding(n_bins: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal embedding (dim, n_bins) of each bin's relative position in the trial."""
    rel = torch.linspace(0.0, 1.0, n_bins, device=device) * POSITION_SCALE
    return timestep_embedding(rel, dim).T


class CodeEncoder(nn.Module):
    """Pooled trial encoder; `forward(x)` gives (mean, logvar or None), each (B, code_dim)."""

    def __init__(
        self,
        n_neurons: int,
        code_dim: int,
        kind: str = "conv",
        hidden: int = 32,
        layers: int = 2,
        kernel: int = 5,
        groups: int = 8,
        stochastic: bool = False,
        pool: str = "attention",
        pool_heads: int = 4,
        pool_windows: int = 5,
    ) -> None:
        super().__init__()
        if kind not in ENCODER_KINDS:
            raise ValueError(f"encoder kind {kind!r} is not one of {ENCODER_KINDS}")
        if pool not in POOLS:
            raise ValueError(f"encoder pool {pool!r} is not one of {POOLS}")
        if pool_heads < 1 or pool_windows < 1:
            raise ValueError(
                f"pool_heads and pool_windows must be >= 1, got {pool_heads}, {pool_windows}"
            )
        if layers < 1 or hidden < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(
                f"encoder needs layers >= 1, hidden >= 1 and an odd kernel; got "
                f"layers={layers}, hidden={hidden}, kernel={kernel}"
            )
        self.kind, self.stochastic, self.n_neurons = kind, stochastic, n_neurons
        self.pool, self.pool_heads, self.pool_windows = pool, pool_heads, pool_windows
        if kind == "conv":
            body: list[nn.Module] = []
            width = n_neurons
            for _ in range(layers):
                body += [
                    nn.Conv1d(width, hidden, kernel, padding=kernel // 2),
                    group_norm(hidden, groups),
                    nn.SiLU(),
                ]
                width = hidden
            self.body = nn.Sequential(*body)
            pooled = hidden
        else:
            self.body = nn.GRU(
                n_neurons, hidden, num_layers=layers, batch_first=True, bidirectional=True
            )
            pooled = 2 * hidden
        self.feature_dim = pooled
        if pool == "attention":
            self.position = nn.Linear(2 * (pooled // 2) or 2, pooled, bias=False)
            self.score = nn.Conv1d(pooled, pool_heads, 1)
            pooled *= pool_heads
        elif pool == "windows":
            pooled *= pool_windows
        self.head = nn.Linear(pooled, 2 * code_dim if stochastic else code_dim)

    def _pool(self, features: torch.Tensor) -> torch.Tensor:
        """Features (B, F, T) pooled over time (module docstring) → (B, F') ."""
        if self.pool == "mean":
            return features.mean(dim=-1)
        if self.pool == "windows":
            if features.shape[-1] < self.pool_windows:
                raise ValueError(f"{features.shape[-1]} bins < pool_windows={self.pool_windows}")
            return F.adaptive_avg_pool1d(features, self.pool_windows).flatten(1)
        dim = self.position.in_features
        pos = self.position(position_embedding(features.shape[-1], dim, features.device).T).T
        h = features + pos.unsqueeze(0)
        weights = torch.softmax(self.score(h), dim=-1)  # (B, heads, T)
        return torch.einsum("bht,bft->bhf", weights, h).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(code mean, code log-variance or None) of trials x (B, N, T)."""
        if x.ndim != 3 or x.shape[1] != self.n_neurons:
            raise ValueError(
                f"encoder input must be (batch, {self.n_neurons} neurons, time), "
                f"got {tuple(x.shape)}"
            )
        if self.kind == "conv":
            features = self.body(x)
        else:
            features = self.body(x.transpose(1, 2))[0].transpose(1, 2)
        out = self.head(self._pool(features))
        if not self.stochastic:
            return out, None
        mean, logvar = out.chunk(2, dim=-1)
        return mean, logvar
