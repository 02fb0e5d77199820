"""LFADS recurrent cells: the GRU cell with a clipped state (generator and controller)."""

from __future__ import annotations

import torch
from torch import nn


class ClippedGRUCell(nn.Module):
    """A GRU cell whose state is clipped to ±clip (LFADS); input_size may be 0 (no input)."""

    def __init__(self, input_size: int, hidden_size: int, clip: float) -> None:
        super().__init__()
        self.hidden_size, self.clip = hidden_size, clip
        self.input_map = nn.Linear(input_size, 3 * hidden_size, bias=False) if input_size else None
        self.hidden_map = nn.Linear(hidden_size, 3 * hidden_size)
        with torch.no_grad():  # update-gate bias +1: start by mostly keeping the state
            self.hidden_map.bias[hidden_size : 2 * hidden_size].add_(1.0)

    @property
    def recurrent_weight(self) -> torch.Tensor:
        """The hidden-to-hidden weight matrix (the one LFADS penalises with L2)."""
        return self.hidden_map.weight

    def forward(self, x: torch.Tensor | None, h: torch.Tensor) -> torch.Tensor:
        """Next state from input x (B, input_size) or None, and state h (B, hidden_size)."""
        reset_h, update_h, new_h = self.hidden_map(h).chunk(3, dim=-1)
        reset_x = update_x = new_x = 0.0
        if self.input_map is not None:
            reset_x, update_x, new_x = self.input_map(x).chunk(3, dim=-1)
        reset = torch.sigmoid(reset_x + reset_h)
        keep = torch.sigmoid(update_x + update_h)
        candidate = torch.tanh(new_x + reset * new_h)
        return torch.clamp(keep * h + (1 - keep) * candidate, -self.clip, self.clip)
