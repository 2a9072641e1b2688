"""CNN + LSTM + multi-head self-attention with hierarchical temporal pooling.

    windows (B, W, F)
      -> conv blocks: parallel causal Conv1d branches (one per kernel size), GELU, layer norm,
         residual (1x1 projection when the width changes)
      -> stacked LSTM (optionally bidirectional) over the W steps
      -> linear to attention_dim, layer norm, multi-head self-attention, residual + layer norm
      -> pooling: mean of the last h attended steps for every h in pool_horizons, concatenated
      -> MLP head, one output per `&` label
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Module):
    """Parallel causal convolutions of several widths; output (B, C_out, W)."""

    def __init__(self, in_channels: int, channels: int, kernels: tuple[int, ...],
                 dropout: float) -> None:
        super().__init__()
        self.kernels = kernels
        self.branches = nn.ModuleList(nn.Conv1d(in_channels, channels, k) for k in kernels)
        out_channels = channels * len(kernels)
        self.norm = nn.LayerNorm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.skip = (nn.Identity() if in_channels == out_channels
                     else nn.Conv1d(in_channels, out_channels, 1))
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Left padding only: step t never sees a later step of the window.
        branches = [conv(F.pad(x, (k - 1, 0))) for conv, k in zip(self.branches, self.kernels,
                                                                  strict=True)]
        y = F.gelu(torch.cat(branches, dim=1))
        y = self.norm(y.transpose(1, 2)).transpose(1, 2)
        return self.skip(x) + self.dropout(y)


class CNNLSTMAttention(nn.Module):
    """Maps windows (batch, window, n_features) to (batch, n_outputs).

    Parameters
    ----------
    n_features, n_outputs: input features per candle; one output per FreqAI `&` label.
    conv_kernels, conv_channels, conv_blocks: the convolution stack (see module docstring).
    hidden_size, num_layers, bidirectional: the LSTM.
    attention_dim, attention_heads: the self-attention layer (dim divisible by heads).
    pool_horizons: look-back horizons summarised by mean pooling (each at most the window).
    dropout: in the conv blocks, between LSTM layers, in the attention and in the head.
    head_hidden: hidden width of the MLP head.
    """

    def __init__(self, n_features: int, n_outputs: int, conv_kernels: tuple[int, ...],
                 conv_channels: int, conv_blocks: int, hidden_size: int, num_layers: int,
                 bidirectional: bool, attention_dim: int, attention_heads: int,
                 pool_horizons: tuple[int, ...], dropout: float, head_hidden: int) -> None:
        super().__init__()
        blocks, width = [], n_features
        for _ in range(conv_blocks):
            block = ConvBlock(width, conv_channels, tuple(conv_kernels), dropout)
            blocks.append(block)
            width = block.out_channels
        self.conv = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(width, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0,
                            bidirectional=bidirectional)
        self.project = nn.Linear(hidden_size * (2 if bidirectional else 1), attention_dim)
        # Unit-scale queries and keys: without it the attention logits start near 0 and the
        # weights stay uniform through training (measured by `freqai-seq validate`).
        self.attention_input_norm = nn.LayerNorm(attention_dim)
        self.attention = nn.MultiheadAttention(attention_dim, attention_heads, dropout=dropout,
                                               batch_first=True)
        self.attention_norm = nn.LayerNorm(attention_dim)
        self.pool_horizons = tuple(pool_horizons)
        summary = attention_dim * len(self.pool_horizons)
        self.head = nn.Sequential(nn.Linear(summary, head_hidden), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(head_hidden, n_outputs))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attended sequence (B, W, attention_dim) and attention weights (B, heads, W, W)."""
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)
        y, _ = self.lstm(y)
        y = self.attention_input_norm(self.project(y))
        attended, weights = self.attention(y, y, y, need_weights=True,
                                           average_attn_weights=False)
        return self.attention_norm(y + attended), weights

    def summarise(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z[:, -h:].mean(dim=1) for h in self.pool_horizons], dim=-1)

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled summary the heads read, (batch, attention_dim x len(pool_horizons))."""
        return self.summarise(self.encode(x)[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.represent(x))

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head attention of a batch of windows, (B, heads, W, W); rows sum to 1."""
        with torch.no_grad():
            return self.encode(x)[1]
