"""The run fingerprint: a run whose settings differ from those an identifier's files were made
with stops before FreqAI reuses them; the legitimate reuses pass. In-process, with the example
config and real strategy classes (the real-freqtrade cases are in tests/test_wheel_install.py
and the shared backtests, which record and recheck it)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.exceptions import OperationalException

from freqai_seq import paths
from freqai_seq.run_fingerprint import (
    FINGERPRINT_FILE,
    carry_fingerprint,
    guard_run,
    run_fingerprint,
)
from freqai_seq.strategies import FreqaiSeqIntervalStrategy, FreqaiSeqStrategy


def _config(userdir: Path, model: str = "PyTorchLSTMRegressor") -> dict:
    config = json.loads((paths.EXAMPLES / "config.json").read_text())
    config.update(user_data_dir=userdir, freqaimodel=model)
    return config


def _strategy(cls: type, config: dict):
    strategy = cls.__new__(cls)  # only set_freqai_targets runs: it reads freqai_info
    strategy.config = config
    strategy.freqai_info = config["freqai"]
    return strategy


CANDLES = pd.DataFrame({"date": pd.date_range("2019-01-01", periods=600, freq="1h", tz="UTC"),
                        "open": 1.0, "high": 1.0, "low": 1.0,
                        "close": np.linspace(100, 110, 600), "volume": 1.0})


def _guard(config: dict, cls: type = FreqaiSeqStrategy) -> None:
    guard_run(config, _strategy(cls, config), CANDLES, {"pair": "BTC/USD"})


def test_the_first_run_records_and_a_changed_model_or_parameter_stops(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _guard(config)
    recorded = json.loads((tmp_path / "models" / "freqai-seq" / FINGERPRINT_FILE).read_text())
    assert recorded["model"] == "PyTorchLSTMRegressor" and recorded["labels"] == ["&-ret_12"]
    _guard(copy.deepcopy(config))  # the same settings: reused
    with pytest.raises(OperationalException,
                       match=r"model PyTorchLSTMRegressor -> PyTorchGRURegressor"):
        _guard(_config(tmp_path, "PyTorchGRURegressor"))
    changed = copy.deepcopy(config)
    changed["freqai"]["model_training_parameters"]["epochs"] = 3
    changed["freqai"]["train_period_days"] = 90
    with pytest.raises(OperationalException, match=r"train_period_days 180 -> 90") as err:
        _guard(changed)
    assert "model_training_parameters.epochs" in str(err.value)
    assert "Set another freqai.identifier" in str(err.value)


def test_fewer_labels_or_a_subset_of_cross_pair_pairs_reuse_more_do_not(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _guard(config, FreqaiSeqIntervalStrategy)  # return, quantiles and volatility labels
    _guard(copy.deepcopy(config))  # FreqaiSeqStrategy trades its return forecast: reused
    one_pair = copy.deepcopy(config)
    one_pair["exchange"]["pair_whitelist"] = ["BTC/USD"]
    _guard(one_pair, FreqaiSeqIntervalStrategy)  # a plot of one pair of a cross-pair run
    more = copy.deepcopy(config)
    more["exchange"]["pair_whitelist"] = [*config["exchange"]["pair_whitelist"], "ADA/USD"]
    with pytest.raises(OperationalException, match=r"pairs \["):
        _guard(more, FreqaiSeqIntervalStrategy)


def test_a_per_pair_models_pairs_are_recorded_not_compared(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["freqai"]["model_training_parameters"]["cross_pair"] = False
    config["exchange"]["pair_whitelist"] = ["BTC/USD"]
    _guard(config)
    config["exchange"]["pair_whitelist"] = ["BTC/USD", "ETH/USD"]
    _guard(config)  # the new pair trains; BTC's files are BTC's


def test_a_folder_without_a_fingerprint_is_reused_with_a_warning_then_recorded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _config(tmp_path)
    folder = tmp_path / "models" / "freqai-seq"
    (folder / "backtesting_predictions").mkdir(parents=True)
    with caplog.at_level(logging.WARNING):
        _guard(config)
    assert "no freqai-seq-run.json" in caplog.text
    assert (folder / FINGERPRINT_FILE).is_file()


def test_the_strategy_class_is_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert run_fingerprint(config, ["&-ret_12"]) == run_fingerprint(
        {**config, "strategy": "FreqaiSeqIntervalStrategy"}, ["&-ret_12"])


def test_walk_forward_batches_records_are_carried_with_their_pairs_together(
        tmp_path: Path) -> None:
    config = _config(tmp_path / "driver")
    batches = []
    for i, pair in enumerate(("BTC/USD", "ETH/USD")):
        batch = copy.deepcopy(config)
        batch.update(user_data_dir=tmp_path / f"batch-{i}")
        batch["exchange"]["pair_whitelist"] = [pair]
        _guard(batch)
        batches.append(tmp_path / f"batch-{i}" / "models" / "freqai-seq")
    target = tmp_path / "driver" / "models" / "freqai-seq"
    carry_fingerprint(batches, target)
    carried = json.loads((target / FINGERPRINT_FILE).read_text())
    assert carried["pairs"] == ["BTC/USD", "ETH/USD"] and carried["model"] == config["freqaimodel"]
    assert carried == run_fingerprint({**config, "exchange": {
        "pair_whitelist": ["ETH/USD", "BTC/USD"]}}, ["&-ret_12"])
