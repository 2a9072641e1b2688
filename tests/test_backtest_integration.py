"""Real `freqtrade backtesting` with FreqAI against the offline market, like `make backtest`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from freqai_seq.market.process import MarketState
from freqai_seq.sequence_model import SequenceModel
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

TIMERANGE = "20190801-20190815"  # two 7-day walk-forward windows after 30 days of training
PAIRS = ["BTC/USD", "ETH/USD"]


TRAINING_PARAMS = {
    "LightGBMRegressor": {"n_estimators": 40, "n_jobs": 1, "verbosity": -1},
    "PyTorchLSTMRegressor": {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2},
    "PyTorchGRURegressor": {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2},
}


def _backtest(tmp_path: Path, market: MarketState, market_dir: Path, pairs: list[str],
              identifier: str, model: str = "LightGBMRegressor",
              params: dict | None = None, strategy: str = "FreqaiSeqStrategy"):
    userdir = tmp_path / "user_data"
    userdir.mkdir()
    overlay = tmp_path / "test-overlay.json"
    overlay.write_text(json.dumps({"exchange": {"pair_whitelist": pairs},
                                   "freqai": {"save_backtest_models": True}}))
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params or TRAINING_PARAMS[model]))
    return run_cli("backtest", "-c", "config.json", "-c", str(overlay), "--model", model,
                   "--strategy", strategy,
                   "--training-params", str(params_file), "--timerange", TIMERANGE,
                   "--identifier", identifier, "--userdir", str(userdir), "--port",
                   str(market.port), "--state-file", str(market_dir / "market.json"),
                   "--datadir", market.datadir)


@pytest.mark.parametrize(("model", "suffix"), [("LightGBMRegressor", "joblib"),
                                               ("PyTorchLSTMRegressor", "zip"),
                                               ("PyTorchGRURegressor", "zip")])
def test_walk_forward_backtest_trains_models_and_writes_predictions(
        tmp_path: Path, market: MarketState, market_dir: Path, model: str, suffix: str) -> None:
    identifier = f"it-{model.lower()}"
    result = _backtest(tmp_path, market, market_dir, PAIRS, identifier, model)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STRATEGY SUMMARY" in result.stdout
    models = tmp_path / "user_data" / "models" / identifier
    trained = sorted(models.glob("sub-train-*"))
    assert len(trained) == len(PAIRS) * 2, trained
    for folder in trained:
        assert list(folder.glob("*_metadata.json")), folder
        assert list(folder.glob(f"*_model.{suffix}")), folder
    predictions = sorted((models / "backtesting_predictions").glob("*_prediction.feather"))
    assert len(predictions) == len(PAIRS) * 2
    frame = pd.read_feather(predictions[0])
    assert {"&-ret_12", "do_predict"} <= set(frame.columns)
    assert frame["do_predict"].isin([0, 1]).all() and (frame["do_predict"] == 1).any()
    if suffix == "zip":  # windows start from the training tail: the first rows are usable too
        assert frame["do_predict"].iloc[0] == 1
    assert frame["&-ret_12"].abs().max() < 1.0  # unscaled returns, not the [-1, 1] model space
    if suffix == "zip":
        _load_like_freqai(next(trained[0].glob("*_model.zip")))


def _load_like_freqai(path: Path) -> None:
    """What FreqAI's data drawer does on a restart or a live reload: torch.load without
    map_location, then the "pytrainer" entry rebuilds the model."""
    checkpoint = torch.load(path, weights_only=False)
    model = checkpoint["pytrainer"].load_from_checkpoint(checkpoint)
    assert isinstance(model, SequenceModel)
    assert all(t.device.type == "cpu" for t in checkpoint["state_dict"].values())
    assert model.window == 12 and len(model.tail.dates_ns) == 11


def test_unknown_pair_fails_with_a_clear_message(tmp_path: Path, market: MarketState,
                                                 market_dir: Path) -> None:
    result = _backtest(tmp_path, market, market_dir, ["DOGE/USD"], "it-unknown")
    assert result.returncode != 0
    assert "DOGE/USD" in result.stdout + result.stderr


def test_backtest_without_data_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("backtest", "--datadir", str(tmp_path), "--userdir", str(tmp_path))
    assert result.returncode == 2
    assert "No candle files in" in result.stderr


def test_failed_trainings_make_the_backtest_fail(tmp_path: Path, market: MarketState,
                                                 market_dir: Path) -> None:
    """FreqAI logs a failed training and carries on; the wrapper must not report success."""
    result = _backtest(tmp_path, market, market_dir, ["BTC/USD"], "it-failing",
                       "PyTorchLSTMRegressor", {"window": 5000, "epochs": 1})
    assert result.returncode == 1
    assert "window=5000 needs at least 5001" in result.stdout
    assert "FreqAI trainings failed and were skipped" in result.stderr


def test_hybrid_multitask_backtest_writes_every_head(tmp_path: Path, market: MarketState,
                                                     market_dir: Path) -> None:
    params = {"window": 12, "pool_horizons": [3, 6, 12], "epochs": 2, "hidden_size": 16,
              "attention_dim": 16, "attention_heads": 2, "conv_channels": 8,
              "mc_dropout_passes": 4}
    result = _backtest(tmp_path, market, market_dir, ["BTC/USD"], "it-hybrid",
                       "PyTorchCNNLSTMAttentionRegressor", params, "FreqaiSeqMultiTaskStrategy")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "STRATEGY SUMMARY" in result.stdout
    folder = tmp_path / "user_data" / "models" / "it-hybrid" / "backtesting_predictions"
    frame = pd.concat([pd.read_feather(f) for f in sorted(folder.glob("*.feather"))])
    usable = frame[frame["do_predict"] == 1]
    assert len(usable) > 300
    regimes = usable[["&-regime_12_down", "&-regime_12_flat", "&-regime_12_up"]]
    assert regimes.sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert (usable["&-vol_12"] > 0).mean() > 0.9  # a volatility, in label units
    assert (usable["&-unc_ret_12"] > 0).all()  # MC-dropout spread of the 12-candle return
