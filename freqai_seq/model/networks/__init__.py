"""Networks: plain nn.Modules mapping (batch, window, features) to (batch, labels).

Add a network by writing one module here and registering it in `NETWORKS` with its builder and
its configuration class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from freqai_seq.model.config_schema import HybridConfig, SequenceConfig
from freqai_seq.model.networks.hybrid import CNNLSTMAttention
from freqai_seq.model.networks.pair_embedding import PairConditioned
from freqai_seq.model.networks.recurrent import RecurrentRegressor

Builder = Callable[[int, int, dict[str, Any]], nn.Module]


def _recurrent(cell: str) -> Builder:
    def build(n_features: int, n_outputs: int, cfg: dict[str, Any]) -> nn.Module:
        return RecurrentRegressor(
            cell=cell, n_features=n_features, n_outputs=n_outputs,
            hidden_size=cfg["hidden_size"], num_layers=cfg["num_layers"],
            dropout=cfg["dropout"], bidirectional=cfg["bidirectional"],
            layer_norm=cfg["layer_norm"], head_hidden=cfg["head_hidden"],
        )
    return build


def _hybrid(n_features: int, n_outputs: int, cfg: dict[str, Any]) -> nn.Module:
    return CNNLSTMAttention(
        n_features=n_features, n_outputs=n_outputs, conv_kernels=cfg["conv_kernels"],
        conv_channels=cfg["conv_channels"], conv_blocks=cfg["conv_blocks"],
        hidden_size=cfg["hidden_size"], num_layers=cfg["num_layers"],
        bidirectional=cfg["bidirectional"], attention_dim=cfg["attention_dim"],
        attention_heads=cfg["attention_heads"], pool_horizons=cfg["pool_horizons"],
        dropout=cfg["dropout"], head_hidden=cfg["head_hidden"],
    )


@dataclass(frozen=True)
class NetworkSpec:
    build: Builder
    config_class: type[SequenceConfig]


NETWORKS: dict[str, NetworkSpec] = {
    "lstm": NetworkSpec(_recurrent("lstm"), SequenceConfig),
    "gru": NetworkSpec(_recurrent("gru"), SequenceConfig),
    "cnn_lstm_attention": NetworkSpec(_hybrid, HybridConfig),
}


def build_network(kind: str, n_features: int, n_outputs: int, cfg: dict[str, Any],
                  n_pairs: int | None = None) -> nn.Module:
    """The network of `kind`; with `n_pairs` (cross-pair), the last of the `n_features` input
    columns is the pair id and the network is wrapped in `PairConditioned`."""
    if n_pairs is None:
        return NETWORKS[kind].build(n_features, n_outputs, cfg)
    dim = cfg["pair_embedding_dim"]
    base = NETWORKS[kind].build(n_features - 1 + dim, n_outputs, cfg)
    return PairConditioned(base, n_pairs, dim, cfg["unseen_pair_share"])
