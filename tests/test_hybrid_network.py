"""The CNN + LSTM + attention network: shapes, attention, causality of the convolutions, and
configuration errors. The FreqAI-level guarantees (parity, save/load, seeding, alignment) are
the shared tests of test_sequence_models.py, parametrised over every network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from freqtrade.exceptions import OperationalException

from freqai_seq.freqaimodels import PyTorchCNNLSTMAttentionRegressor
from freqai_seq.model.config_schema import HybridConfig
from freqai_seq.model.networks import build_network
from freqai_seq.model.networks.hybrid import CNNLSTMAttention, ConvBlock
from tests.seqkit import make_config


def _net(**overrides) -> CNNLSTMAttention:
    cfg = HybridConfig(**{"window": 24, **overrides})
    torch.manual_seed(0)
    return build_network("cnn_lstm_attention", 7, 3, cfg.to_dict()).eval()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_and_attention_shapes(bidirectional: bool) -> None:
    net = _net(bidirectional=bidirectional, conv_blocks=2)
    x = torch.randn(5, 24, 7)
    assert net(x).shape == (5, 3)
    weights = net.attention_weights(x)
    assert weights.shape == (5, 4, 24, 24)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(5, 4, 24))
    assert (weights >= 0).all()


def test_convolutions_are_causal_within_the_window() -> None:
    block = ConvBlock(3, 4, (3, 5), dropout=0.0).eval()
    x = torch.randn(2, 3, 10)
    changed = x.clone()
    changed[:, :, 6:] += 5.0  # alter the future of step 5
    torch.testing.assert_close(block(x)[:, :, :6], block(changed)[:, :, :6])
    assert not torch.allclose(block(x)[:, :, 6:], block(changed)[:, :, 6:])


def test_pooling_uses_only_the_configured_horizons() -> None:
    net = _net(pool_horizons=(2, 6))
    z = torch.randn(3, 24, 32)
    expected = torch.cat([z[:, -2:].mean(1), z[:, -6:].mean(1)], dim=-1)
    torch.testing.assert_close(net.summarise(z), expected)


@pytest.mark.parametrize(("params", "message"), [
    ({"window": 4}, r"pool_horizons \[8\] must lie between 1 and the window \(4 candles\)"),
    ({"attention_heads": 3}, r"attention_heads \(3\) must divide attention_dim \(32\)"),
    ({"conv_kernels": []}, "conv_kernels must be a non-empty list"),
    ({"pool_horizons": "6"}, "pool_horizons must be a list of int"),
    ({"conv_kernel": [3]}, r"Unknown model_training_parameters \['conv_kernel'\]"),
])
def test_bad_hybrid_config_names_the_problem(tmp_path: Path, params: dict, message: str) -> None:
    config = make_config(tmp_path, **{"pool_horizons": [2, 4, 8], **params})
    with pytest.raises(OperationalException, match=message):
        PyTorchCNNLSTMAttentionRegressor(config=config)
