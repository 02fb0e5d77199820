"""LFADS encoders: bidirectional GRUs over spikes (initial condition and controller input)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BidirectionalEncoder(nn.Module):
    """A bidirectional GRU over (B, T, N) that respects per-trial lengths."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-step states (B, T, 2H), zero past each length; final states (B, 2H))."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, last = self.gru(packed)
        steps, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        # last: (2 directions, B, H): forward state after the last valid bin, backward after bin 0
        return steps, torch.cat([last[0], last[1]], dim=-1)
