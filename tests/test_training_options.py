"""The training options in real `freqtrade backtesting` runs: one run with sgd and Nesterov
momentum, the step scheduler, the curriculum and an expanding window; adam with the plateau
scheduler in the shared GRU run (the options' behaviour itself is tested in
test_sequence_models.py)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from freqai_seq.evaluation.training_plot import trainings
from freqai_seq.model.sequence_model import SequenceModel
from tests.backtest_runs import PAIRS, TRAINING_PARAMS
from tests.conftest import INTEGRATION_TIMERANGE, BacktestRun

# The fixture's 30 training days end on 2019-08-01 and 2019-08-08: the first window starts on
# 07-02 and is cut to the expanding start, the second starts on 07-09, where the cap (FreqAI's
# train_period_days) binds.
EXPANDING_START = "2019-07-05"
PARAMS = {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2,
          "early_stopping_patience": 0, "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
          "learning_rate": 0.01, "scheduler": "step", "step_size": 1, "step_factor": 0.5,
          "curriculum_epochs": 1, "expanding_window_start": EXPANDING_START, "device": "cpu"}


@pytest.mark.integration
def test_training_options_work_in_a_real_freqtrade_backtest(
        backtest: Callable[..., BacktestRun]) -> None:
    assert INTEGRATION_TIMERANGE == "20190801-20190815"
    run = backtest("it-training-options", "PyTorchLSTMRegressor", PARAMS, ["BTC/USD"])
    output = run.result.stdout + run.result.stderr
    assert run.result.returncode == 0, output[-3000:]
    assert "STRATEGY SUMMARY" in run.result.stdout
    assert "raised exception" not in output
    assert output.count("curriculum: epochs 1-1 visit the") == 2
    found = trainings(run.models)
    assert [t.window_end for t in found] == [pd.Timestamp("2019-08-01", tz="UTC"),
                                            pd.Timestamp("2019-08-08", tz="UTC")]
    for training in found:  # the step scheduler halved the rate after each epoch
        assert [h["lr"] for h in training.history] == pytest.approx([0.01, 0.005])
    first_dates = []
    for folder in sorted(run.models.glob("sub-train-BTC_*")):
        model = SequenceModel.load(next(folder.glob("*_model.zip")))
        assert (model.cfg.optimizer, model.cfg.nesterov) == ("sgd", True)
        dates = pd.read_pickle(next(folder.glob("*_trained_dates_df.pkl")))
        first_dates.append(pd.Timestamp(dates.min()))
    assert first_dates == [pd.Timestamp(EXPANDING_START, tz="UTC"),
                           pd.Timestamp("2019-07-09", tz="UTC")]


@pytest.mark.integration
def test_adam_with_the_plateau_scheduler_in_a_real_freqtrade_backtest(
        backtest: Callable[..., BacktestRun]) -> None:
    model = "PyTorchGRURegressor"
    run = backtest(f"it-{model.lower()}", model, TRAINING_PARAMS[model], PAIRS)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    found = trainings(run.models)
    assert len(found) == len(PAIRS) * 2
    for folder in sorted(run.models.glob("sub-train-*")):
        cfg = SequenceModel.load(next(folder.glob("*_model.zip"))).cfg
        assert (cfg.optimizer, cfg.scheduler) == ("adam", "plateau")
    # 2 epochs: the plateau scheduler (patience 2) never cuts; a cosine one would have
    for training in found:
        assert [h["lr"] for h in training.history] == pytest.approx([1e-3, 1e-3])
