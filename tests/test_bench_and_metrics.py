"""Forecast metrics on hand-checked cases, and the benchmark command end to end on a tiny run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqai_seq.evaluation.bench_settings import HYBRID, MC_PASSES
from freqai_seq.evaluation.metrics import realized_forward_return, score, spread_error_ic
from freqai_seq.evaluation.validation.forecast_metrics import point_scores, resampled_scores
from tests.conftest import run_cli


def test_realized_return_is_looked_up_by_date_so_gaps_give_nan() -> None:
    dates = pd.to_datetime(["2019-01-01 00:00", "2019-01-01 01:00", "2019-01-01 03:00",
                            "2019-01-01 04:00"], utc=True)
    candles = pd.DataFrame({"date": dates, "close": [100.0, 110.0, 121.0, 133.1]})
    truth = realized_forward_return(candles, 1, "1h")
    assert truth.iloc[0] == pytest.approx(0.10)
    assert np.isnan(truth.iloc[1])  # 02:00 is missing: no return over a wrong span
    assert truth.iloc[2] == pytest.approx(0.10)
    assert np.isnan(truth.iloc[3])  # the future is not known yet


def test_scores_by_hand() -> None:
    truth = np.array([0.01, -0.02, 0.03, -0.01, 0.02])
    perfect = score(truth, truth)
    assert perfect.spearman_ic == pytest.approx(1.0)
    assert perfect.direction_accuracy == 1.0 and perfect.mse_vs_zero == 0.0
    pred = np.array([0.02, 0.01, 0.01, -0.03, np.nan])
    s = score(pred, truth)
    assert s.rows == 4
    assert s.direction_accuracy == pytest.approx(3 / 4)
    # ranks: pred [4, 2.5, 2.5, 1] vs truth [3, 1, 4, 2]; Pearson on the ranks:
    # cov 1.5 / sqrt(4.5 * 5) = 1 / sqrt(10)
    assert s.spearman_ic == pytest.approx(1 / np.sqrt(10))
    mse = np.mean((pred[:4] - truth[:4]) ** 2) / np.mean(truth[:4] ** 2)
    assert s.mse_vs_zero == pytest.approx(mse)


def test_bench_and_validate_score_direction_alike() -> None:
    """One definition (a zero forecast takes no side): `bench`/`tune` (metrics.score) and
    `validate` (point_scores, and the bootstrap's resampled scores) agree on the same rows."""
    truth = np.array([0.01, -0.02, 0.03, -0.01, 0.0, 0.02])
    pred = np.array([0.02, 0.0, 0.01, 0.01, -0.01, 0.0])
    # signed rows: 0, 2, 3 (pred 0 on rows 1 and 5, truth 0 on row 4): hits on 0 and 2
    assert score(pred, truth).direction_accuracy == pytest.approx(2 / 3)
    assert point_scores(pred, truth)["direction_accuracy"] == pytest.approx(2 / 3)
    once = resampled_scores(pred, truth, np.ones((1, len(truth))))
    assert once["direction_accuracy"][0] == pytest.approx(2 / 3)
    assert once["mse_vs_zero"][0] == pytest.approx(score(pred, truth).mse_vs_zero)


def test_spread_error_ic_ranks_spread_against_absolute_error() -> None:
    truth = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    pred = np.array([0.01, -0.04, 0.02, -0.03, np.nan])
    assert spread_error_ic(pred, np.array([1.0, 4.0, 2.0, 3.0, 9.0]), truth) == pytest.approx(1)
    assert spread_error_ic(pred, np.array([4.0, 1.0, 3.0, 2.0, 0.0]), truth) == pytest.approx(-1)
    assert np.isnan(spread_error_ic(pred, np.zeros(5), truth))  # MC dropout off: no signal


@pytest.mark.integration
def test_bench_command_runs_and_writes_its_report(tmp_path: Path, datadir: Path) -> None:
    mc_model = f"{HYBRID}+multitask+mc{MC_PASSES}"
    result = run_cli("bench", "--models", "PyTorchLSTMRegressor", mc_model,
                     "LSTMLightGBMEnsembleRegressor", "LightGBMRegressor", "--pairs", "BTC/USD",
                     "--timerange", "20190801-20190808", "--train-epochs", "1", "--out",
                     str(tmp_path / "bench"), "--userdir", str(tmp_path / "user_data"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "bench" / "bench.json").read_text())
    lstm, hybrid, ensemble, _ = report["models"]
    assert lstm["model"] == "PyTorchLSTMRegressor" and lstm["trainings"] == 1
    assert lstm["scored_rows"] > 100 and -1 <= lstm["spearman_ic"] <= 1
    assert lstm["spread_error_ic"] is None
    # Trades and profit are freqtrade's own, as its summary printed them.
    log = (tmp_path / "bench" / "bench-pytorchlstmregressor" / "backtest.log").read_text()
    row = re.search(r"│ FreqaiSeqStrategy │\s+(\d+) │[^│]+│[^│]+│\s+(-?[\d.]+) │", log)
    assert row, "no strategy summary row"
    assert lstm["trades"] == int(row[1]) and round(lstm["profit_pct"], 2) == float(row[2])
    assert ensemble["trainings"] == 1 and ensemble["scored_rows"] == lstm["scored_rows"]
    # The multi-task hybrid's `&-ret_12` is scored on the same rows, and its MC spread is real.
    assert hybrid["model"] == mc_model and hybrid["scored_rows"] == lstm["scored_rows"]
    assert -1 <= hybrid["spread_error_ic"] <= 1
    predictions = tmp_path / "user_data" / "models" / "bench-pytorchcnnlstmattentionregressor-" \
        f"multitask-mc{MC_PASSES}" / "backtesting_predictions"
    (frame,) = [pd.read_feather(f) for f in predictions.glob("*_prediction.feather")]
    assert (frame.loc[frame["do_predict"] == 1, "&-unc_ret_12"] > 0).all()
    assert report["bare_loop_s"] > 0
    # The bare loop's shape is the one the LSTM's saved model recorded: what its training logged.
    shape = re.search(r"Training model on (\d+) features and (\d+) rows", log)
    assert shape, "no training shape logged"
    assert (report["bare_loop_shape"]["features"], report["bare_loop_shape"]["rows"]) == (
        int(shape[1]), int(shape[2]))
    assert set(report["inference_candles_per_s"]) == {
        "lstm_batched", "lstm_per_candle_loop", "gru_batched", "gru_per_candle_loop",
        "hybrid_batched", f"hybrid_batched_mc{MC_PASSES}", "transformer_per_candle_loop"}
    # Live step per new candle, timed with each model's saved newest model (FreqAI's own
    # LightGBMRegressor included) on the last 200 candles of the backtest, one at a time.
    latency = report["live_latency"]
    assert list(latency) == [m["model"] for m in report["models"]]
    for name, figures in latency.items():
        assert figures["calls"] == 200 and figures["pairs"] == 1, name
        assert 0 < figures["median_ms"] <= figures["p95_ms"], name
        assert figures["last_row_usable"] == 1.0, name  # real predictions were timed
    assert latency["PyTorchLSTMRegressor"]["rows_per_call"] == 24  # the window: conv_width
    assert latency["LightGBMRegressor"]["rows_per_call"] == 1
    assert "| model | rows per call | median ms | p95 ms |" in result.stdout
    assert "| PyTorchLSTMRegressor |" in result.stdout
    assert f"MC dropout ({MC_PASSES} passes)" in result.stdout
    assert "lstm_training_over_bare_loop" in result.stdout
