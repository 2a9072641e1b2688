"""The integration backtests several test modules share (each runs once per session through
the `backtest` fixture)."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import BacktestRun

PAIRS = ["BTC/USD", "ETH/USD"]


TRAINING_PARAMS = {
    "LightGBMRegressor": {"n_estimators": 40, "n_jobs": 1, "verbosity": -1},
    "PyTorchLSTMRegressor": {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2},
    # the other optimizer and scheduler than the LSTM's defaults (adamw, cosine) and the
    # training options run's (sgd, step): each runs in a real backtest
    "PyTorchGRURegressor": {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2,
                            "optimizer": "adam", "scheduler": "plateau"},
}
HYBRID_PARAMS = {"window": 12, "pool_horizons": [3, 6, 12], "epochs": 2, "hidden_size": 16,
                 "attention_dim": 16, "attention_heads": 2, "conv_channels": 8,
                 "mc_dropout_passes": 4}


def lstm_run(backtest: Callable[..., BacktestRun]) -> BacktestRun:
    """The LSTM walk-forward, validated by the wrapper like `make backtest` does."""
    return backtest("it-pytorchlstmregressor", "PyTorchLSTMRegressor",
                    TRAINING_PARAMS["PyTorchLSTMRegressor"], PAIRS, "FreqaiSeqStrategy",
                    "--validate")


def hybrid_run(backtest: Callable[..., BacktestRun]) -> BacktestRun:
    return backtest("it-hybrid", "PyTorchCNNLSTMAttentionRegressor", HYBRID_PARAMS, ["BTC/USD"],
                    "FreqaiSeqMultiTaskStrategy")
