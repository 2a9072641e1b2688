"""Networks: plain nn.Modules mapping (batch, window, features) to (batch, labels).

Add a network by writing one module here and registering its builder in `NETWORKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from freqai_seq.networks.recurrent import RecurrentRegressor


def _recurrent(cell: str) -> Callable[..., nn.Module]:
    def build(n_features: int, n_outputs: int, cfg: dict[str, Any]) -> nn.Module:
        return RecurrentRegressor(
            cell=cell, n_features=n_features, n_outputs=n_outputs,
            hidden_size=cfg["hidden_size"], num_layers=cfg["num_layers"],
            dropout=cfg["dropout"], bidirectional=cfg["bidirectional"],
            layer_norm=cfg["layer_norm"], head_hidden=cfg["head_hidden"],
        )
    return build


NETWORKS: dict[str, Callable[..., nn.Module]] = {"lstm": _recurrent("lstm"),
                                                 "gru": _recurrent("gru")}


def build_network(kind: str, n_features: int, n_outputs: int, cfg: dict[str, Any]) -> nn.Module:
    return NETWORKS[kind](n_features, n_outputs, cfg)
