"""Stacked LSTM / GRU over a window, summarised by its final hidden state, then an MLP head."""

from __future__ import annotations

import torch
from torch import nn


class RecurrentRegressor(nn.Module):
    """Maps windows (batch, window, n_features) to (batch, n_outputs).

    Parameters
    ----------
    cell: "lstm" or "gru".
    n_features: input features per candle.
    n_outputs: one output per FreqAI `&` label (several horizons train in one model).
    hidden_size: units per layer and direction.
    num_layers: stacked recurrent layers.
    dropout: between recurrent layers (when more than one) and inside the head.
    bidirectional: also read each window backwards; the summary concatenates both directions'
        final states.
    layer_norm: normalise the summary before the head.
    head_hidden: hidden width of the two-layer MLP head.
    """

    def __init__(self, cell: str, n_features: int, n_outputs: int, hidden_size: int,
                 num_layers: int, dropout: float, bidirectional: bool, layer_norm: bool,
                 head_hidden: int) -> None:
        super().__init__()
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_class(n_features, hidden_size, num_layers=num_layers, batch_first=True,
                             dropout=dropout if num_layers > 1 else 0.0,
                             bidirectional=bidirectional)
        summary = hidden_size * (2 if bidirectional else 1)
        self.norm = nn.LayerNorm(summary) if layer_norm else nn.Identity()
        self.head = nn.Sequential(nn.Linear(summary, head_hidden), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(head_hidden, n_outputs))
        self.bidirectional = bidirectional

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """The window summary the head reads, (batch, summary width)."""
        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h_n, c_n)
        # Last layer's final state; with two directions, both of them side by side.
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.bidirectional else h_n[-1]
        return self.norm(summary)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.represent(x))
