"""A network that also knows which pair a window belongs to (cross-pair training).

The pair id travels as the last input column (constant over a window), so the training loop,
the windowing and the inference batches stay the same as for one pair. With an embedding, the id
selects a learned vector appended to every step; id `n_pairs` is the "unseen pair" slot, which a
share of training windows is switched to, so a pair the network never saw still gets a trained
input. Without an embedding (dimension 0) the id is ignored: one model for every pair.
"""

from __future__ import annotations

import torch
from torch import nn


class PairConditioned(nn.Module):
    """Wraps a network of `n_features + embedding_dim` inputs; reads (batch, window,
    n_features + 1) windows whose last column is the pair id."""

    reserved_inputs = 1  # the pair-id column: never augmented

    def __init__(self, base: nn.Module, n_pairs: int, embedding_dim: int,
                 unseen_share: float) -> None:
        super().__init__()
        self.base = base
        self.n_pairs = n_pairs
        self.unseen_share = unseen_share
        self.embedding = nn.Embedding(n_pairs + 1, embedding_dim) if embedding_dim else None

    @property
    def unseen_id(self) -> int:
        return self.n_pairs

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        features = x[..., :-1]
        if self.embedding is None:
            return features
        ids = x[:, -1, -1].round().long().clamp(0, self.n_pairs)
        # Only while learning (not for MC-dropout passes, which run without gradients).
        if self.training and torch.is_grad_enabled() and self.unseen_share > 0:
            masked = torch.rand(ids.shape, device=ids.device) < self.unseen_share
            ids = torch.where(masked, torch.full_like(ids, self.unseen_id), ids)
        vectors = self.embedding(ids).unsqueeze(1).expand(-1, x.shape[1], -1)
        return torch.cat([features, vectors.to(features.dtype)], dim=-1)

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.represent(self._inputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(self._inputs(x))
