"""Helpers to drive the sequence regressors through FreqAI's real data kitchen and pipelines,
without the freqtrade backtesting loop around them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from freqtrade.configuration import Configuration
from freqtrade.enums import RunMode
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from freqtrade.freqai.utils import get_tb_logger

from freqai_seq.model.regressor import SequenceRegressor
from tests.conftest import ROOT

SMALL = {"window": 8, "hidden_size": 16, "num_layers": 1, "head_hidden": 16, "epochs": 30,
         "batch_size": 32, "learning_rate": 0.01, "early_stopping_patience": 5, "dropout": 0.0}


def make_config(tmp_path: Path, **params: Any) -> dict:
    config = Configuration.from_files([str(ROOT / "config.json")])
    config["user_data_dir"] = tmp_path
    config["runmode"] = RunMode.BACKTEST
    config["freqai"]["model_training_parameters"] = {**SMALL, **params}
    # Defaults freqtrade's schema adds when it validates a config for a real command.
    config["freqai"]["feature_parameters"].update(shuffle_after_split=False,
                                                  reverse_train_test_order=False)
    config["freqai"]["identifier"] = "unit"
    config["timerange"] = "20210201-20210301"
    return config


def synthetic_frame(n: int, seed: int = 0, start: str = "2021-01-01") -> pd.DataFrame:
    """Target = fixed linear function of the current and lagged inputs (lags 0, 3, 5)."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    target = 0.6 * a + 0.5 * np.roll(a, 3) - 0.5 * np.roll(b, 5)
    target[:5] = np.nan  # the lags wrap around at the start: no valid target there
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq="1h", tz="UTC"),
                         "%-a": a, "%-b": b, "%-c": c, "&-target": target})


def train(model_cls: type[SequenceRegressor], config: dict,
          frame: pd.DataFrame) -> tuple[SequenceRegressor, FreqaiDataKitchen]:
    regressor = model_cls(config=config)
    dk = FreqaiDataKitchen(config, live=False, pair="BTC/USD")
    dk.find_features(frame)
    dk.find_labels(frame)
    # FreqAI creates the tensorboard logger before each training (disabled unless configured).
    regressor.tb_logger = get_tb_logger("pytorch", dk.data_path, False)
    regressor.model = regressor.train(frame, "BTC/USD", dk)
    return regressor, dk


def predict(regressor: SequenceRegressor, dk: FreqaiDataKitchen,
            frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    pred, do_predict = regressor.predict(frame.reset_index(drop=True), dk)
    return pred.iloc[:, 0].to_numpy(), np.asarray(do_predict)


def predict_frame(regressor: SequenceRegressor, dk: FreqaiDataKitchen,
                  frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    pred, do_predict = regressor.predict(frame.reset_index(drop=True), dk)
    return pred, np.asarray(do_predict)
