"""The auxiliary encoder of GNOCCHI: one trial (B, N, T) → one code c ∈ ℝ^L per trial.

Two bodies, chosen by `kind` (gnocchi.md §4): "conv", a stack of Conv1d(kernel) + GroupNorm +
SiLU over time; or "gru", a bidirectional GRU (the LFADS-style encoder used at SNEL). Either is
mean-pooled over time (so any trial length works) and mapped linearly to the code. (InfoDiffusion's
image encoder flattens its last feature map instead; flattening over time was tried here and
decoded the factors no better on the synthetic set.) With `stochastic=True` the head gives a
mean and a log-variance instead (InfoDiffusion's KL variant, kld_weight > 0).
"""

from __future__ import annotations

import torch
from torch import nn

from neurodiff.models.gnocchi.unet import group_norm

ENCODER_KINDS = ("conv", "gru")


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
    ) -> None:
        super().__init__()
        if kind not in ENCODER_KINDS:
            raise ValueError(f"encoder kind {kind!r} is not one of {ENCODER_KINDS}")
        if layers < 1 or hidden < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"encoder needs layers >= 1, hidden >= 1 and an odd kernel; got "
                             f"layers={layers}, hidden={hidden}, kernel={kernel}")
        self.kind, self.stochastic, self.n_neurons = kind, stochastic, n_neurons
        if kind == "conv":
            body: list[nn.Module] = []
            width = n_neurons
            for _ in range(layers):
                body += [nn.Conv1d(width, hidden, kernel, padding=kernel // 2),
                         group_norm(hidden, groups), nn.SiLU()]
                width = hidden
            self.body = nn.Sequential(*body)
            pooled = hidden
        else:
            self.body = nn.GRU(n_neurons, hidden, num_layers=layers, batch_first=True,
                               bidirectional=True)
            pooled = 2 * hidden
        self.head = nn.Linear(pooled, 2 * code_dim if stochastic else code_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(code mean, code log-variance or None) of trials x (B, N, T)."""
        if x.ndim != 3 or x.shape[1] != self.n_neurons:
            raise ValueError(f"encoder input must be (batch, {self.n_neurons} neurons, time), "
                             f"got {tuple(x.shape)}")
        if self.kind == "conv":
            pooled = self.body(x).mean(dim=-1)
        else:
            pooled = self.body(x.transpose(1, 2))[0].mean(dim=1)
        out = self.head(pooled)
        if not self.stochastic:
            return out, None
        mean, logvar = out.chunk(2, dim=-1)
        return mean, logvar
