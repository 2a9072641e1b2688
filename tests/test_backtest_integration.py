"""Real `freqtrade backtesting` with FreqAI against the offline market, like `make backtest`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch

from freqai_seq.model.sequence_model import SequenceModel
from tests.backtest_runs import PAIRS, TRAINING_PARAMS, hybrid_run, lstm_run
from tests.conftest import BacktestRun, run_cli

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("model", "suffix"), [("LightGBMRegressor", "joblib"),
                                               ("PyTorchLSTMRegressor", "zip"),
                                               ("PyTorchGRURegressor", "zip")])
def test_walk_forward_backtest_trains_models_and_writes_predictions(
        backtest: Callable[..., BacktestRun], model: str, suffix: str) -> None:
    run = (lstm_run(backtest) if model == "PyTorchLSTMRegressor" else
           backtest(f"it-{model.lower()}", model, TRAINING_PARAMS[model], PAIRS))
    result = run.result
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STRATEGY SUMMARY" in result.stdout
    models = run.models
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


def test_unknown_pair_fails_with_a_clear_message(backtest: Callable[..., BacktestRun]) -> None:
    result = backtest("it-unknown", "LightGBMRegressor", TRAINING_PARAMS["LightGBMRegressor"],
                      ["DOGE/USD"]).result
    assert result.returncode != 0
    assert "DOGE/USD" in result.stdout + result.stderr


def test_backtest_without_data_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("backtest", "--datadir", str(tmp_path), "--userdir", str(tmp_path))
    assert result.returncode == 2
    assert "No candle files in" in result.stderr


def test_failed_trainings_make_the_backtest_fail(backtest: Callable[..., BacktestRun]) -> None:
    """FreqAI logs a failed training and carries on; the wrapper must not report success."""
    result = backtest("it-failing", "PyTorchLSTMRegressor", {"window": 5000, "epochs": 1},
                      ["BTC/USD"], "FreqaiSeqStrategy", "--validate").result
    assert result.returncode == 1
    assert "window=5000 needs at least 5001" in result.stdout
    assert "FreqAI trainings failed and were skipped" in result.stderr
    assert "Validation of" not in result.stdout  # a failed backtest is not validated


def test_a_start_moved_for_missing_startup_candles_makes_the_backtest_fail(
        backtest: Callable[..., BacktestRun]) -> None:
    """The bundled candles start on 2017-10-01: the 30 training days before 2017-10-31 are
    there (the wrapper's own check passes), the strategy's 40 startup candles before them are not,
    so freqtrade backtests from later, with only a warning; the wrapper must not report the
    shorter backtest as the one asked for."""
    result = backtest("it-moved-start", "LightGBMRegressor", TRAINING_PARAMS["LightGBMRegressor"],
                      ["BTC/USD"], "FreqaiSeqStrategy", "--timerange", "20171031-20171116").result
    assert "STRATEGY SUMMARY" in result.stdout, result.stdout[-3000:]
    assert result.returncode == 1
    assert ("freqtrade backtested from 2017-11-01 16:00, not from the timerange's start "
            "2017-10-31") in result.stderr


def test_hybrid_multitask_backtest_writes_every_head(
        backtest: Callable[..., BacktestRun]) -> None:
    run = hybrid_run(backtest)
    assert run.result.returncode == 0, run.result.stdout[-3000:]
    assert "STRATEGY SUMMARY" in run.result.stdout
    folder = run.models / "backtesting_predictions"
    frame = pd.concat([pd.read_feather(f) for f in sorted(folder.glob("*.feather"))])
    usable = frame[frame["do_predict"] == 1]
    assert len(usable) > 300
    regimes = usable[["&-regime_12_down", "&-regime_12_flat", "&-regime_12_up"]]
    assert regimes.sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert (usable["&-vol_12"] > 0).mean() > 0.9  # a volatility, in label units
    assert (usable["&-unc_ret_12"] > 0).all()  # MC-dropout spread of the 12-candle return
