"""The run fingerprint: a run whose settings differ from those an identifier's files were made
with stops before FreqAI reuses them; the legitimate reuses pass. In-process, with the example
config and real strategy classes (the real-freqtrade cases are in tests/test_wheel_install.py,
tests/test_walkforward.py and tests/test_quantiles.py)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException

from freqai_seq import paths, run_fingerprint
from freqai_seq.run_fingerprint import (
    FINGERPRINT_FILE,
    carry_fingerprint,
    check_settings,
    guard_run,
)
from freqai_seq.strategies import FreqaiSeqIntervalStrategy, FreqaiSeqStrategy

CANDLES = pd.DataFrame({"date": pd.date_range("2019-01-01", periods=600, freq="1h", tz="UTC"),
                        "open": 1.0, "high": 1.0, "low": 1.0,
                        "close": np.linspace(100, 110, 600), "volume": 1.0})


def _config(userdir: Path, model: str = "PyTorchLSTMRegressor") -> dict:
    config = json.loads((paths.EXAMPLES / "config.json").read_text())
    config.update(user_data_dir=userdir, freqaimodel=model)
    return config


def _strategy(cls: type, config: dict):
    strategy = cls.__new__(cls)  # only set_freqai_targets runs: it reads freqai_info
    strategy.config = config
    strategy.freqai_info = config["freqai"]
    return strategy


def _guard(config: dict, cls: type = FreqaiSeqStrategy) -> None:
    """One run's first candle, as a fresh process sees it (no cached check)."""
    run_fingerprint._checked.clear()
    pooled = bool(config["freqai"]["model_training_parameters"].get("cross_pair"))
    guard_run(config, _strategy(cls, config), CANDLES, {"pair": "BTC/USD"}, pooled)


def _trained(config: dict) -> Path:
    """What FreqAI leaves after a run: files a later run would reuse."""
    folder = Path(config["user_data_dir"]) / "models" / config["freqai"]["identifier"]
    (folder / "backtesting_predictions").mkdir(parents=True, exist_ok=True)
    return folder


def test_the_first_run_records_and_a_changed_model_or_parameter_stops(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _guard(config)
    folder = _trained(config)
    recorded = json.loads((folder / FINGERPRINT_FILE).read_text())
    assert recorded["model"] == "PyTorchLSTMRegressor" and recorded["labels"] == ["&-ret_12"]
    _guard(copy.deepcopy(config))  # the same settings, read back from the file: reused
    gru = _config(tmp_path, "PyTorchGRURegressor")
    with pytest.raises(OperationalException,
                       match=r"model 'PyTorchLSTMRegressor' -> 'PyTorchGRURegressor'"):
        check_settings(gru, pooled=True)  # when freqtrade builds the model: no labels yet
    with pytest.raises(OperationalException, match=r"PyTorchGRURegressor"):
        _guard(gru)
    changed = copy.deepcopy(config)
    changed["freqai"]["model_training_parameters"]["epochs"] = 3
    changed["freqai"]["train_period_days"] = 90
    with pytest.raises(OperationalException, match=r"train_period_days 180 -> 90") as err:
        _guard(changed)
    assert "model_training_parameters.epochs" in str(err.value)
    assert "Set another freqai.identifier" in str(err.value)
    assert json.loads((folder / FINGERPRINT_FILE).read_text()) == recorded  # untouched


def test_a_first_run_that_stopped_before_writing_files_leaves_no_obstacle(
        tmp_path: Path) -> None:
    config = _config(tmp_path)
    _guard(config)  # recorded, then (say) the timerange was refused: nothing trained
    shorter = copy.deepcopy(config)
    shorter["freqai"]["train_period_days"] = 30
    check_settings(shorter, pooled=True)
    _guard(shorter)
    recorded = json.loads((_trained(shorter) / FINGERPRINT_FILE).read_text())
    assert recorded["train_period_days"] == 30


def test_fewer_labels_reuse_more_do_not(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _guard(config, FreqaiSeqIntervalStrategy)  # return, quantiles and volatility labels
    _trained(config)
    _guard(copy.deepcopy(config))  # FreqaiSeqStrategy trades its return forecast: reused
    threshold = _config(tmp_path / "other")
    _guard(threshold)
    _trained(threshold)
    with pytest.raises(OperationalException, match=r"labels \['&-ret_12'\] -> \["):
        _guard(threshold, FreqaiSeqIntervalStrategy)


def test_a_pooled_network_needs_its_pairs_except_for_a_plot(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config["freqai"]["model_training_parameters"]["cross_pair"]
    _guard(config)
    _trained(config)
    one_pair = copy.deepcopy(config)
    one_pair["exchange"]["pair_whitelist"] = ["BTC/USD"]
    with pytest.raises(OperationalException, match=r"pairs \["):
        _guard(one_pair)  # a backtest or bot of one pair would train a one-pair network
    _guard({**one_pair, "runmode": RunMode.PLOT})  # a plot of one pair trains nothing
    named = copy.deepcopy(one_pair)  # cross_pair_pairs keeps the network on the pairs named
    named["freqai"]["model_training_parameters"]["cross_pair_pairs"] = [
        *config["exchange"]["pair_whitelist"]]
    with pytest.raises(OperationalException, match="cross_pair_pairs"):
        _guard(named)  # ... but that is another training setting
    more = copy.deepcopy(config)
    more["exchange"]["pair_whitelist"] = [*config["exchange"]["pair_whitelist"], "ADA/USD"]
    with pytest.raises(OperationalException, match=r"pairs \["):
        _guard(more)


def test_a_per_pair_models_pairs_are_recorded_not_compared(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["freqai"]["model_training_parameters"]["cross_pair"] = False
    config["exchange"]["pair_whitelist"] = ["BTC/USD"]
    _guard(config)
    _trained(config)
    config["exchange"]["pair_whitelist"] = ["BTC/USD", "ETH/USD"]
    _guard(config)  # the new pair trains; BTC's files are BTC's


def test_the_base_timeframe_counts_as_included_as_freqtrade_adds_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["freqai"]["feature_parameters"]["include_timeframes"] = ["1h", "4h"]
    _guard(config)
    _trained(config)
    plot = copy.deepcopy(config)  # plot-dataframe skips freqtrade's config validation
    plot["freqai"]["feature_parameters"]["include_timeframes"] = ["4h"]
    _guard(plot)
    other = copy.deepcopy(config)
    other["timeframe"] = "30m"
    with pytest.raises(OperationalException, match=r"timeframe '1h' -> '30m'"):
        _guard(other)


def test_a_folder_without_a_fingerprint_is_reused_with_a_warning_then_recorded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _config(tmp_path)
    folder = _trained(config)
    with caplog.at_level(logging.WARNING):
        _guard(config)
    assert "no freqai-seq-run.json" in caplog.text
    assert (folder / FINGERPRINT_FILE).is_file()
    (folder / FINGERPRINT_FILE).write_text("[]")
    with pytest.raises(OperationalException, match="not a readable run record"):
        _guard(config)


def test_the_strategy_class_is_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert run_fingerprint.run_fingerprint(config, ["&-ret_12"]) == \
        run_fingerprint.run_fingerprint({**config, "strategy": "FreqaiSeqIntervalStrategy"},
                                        ["&-ret_12"])


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
    assert carried == json.loads(json.dumps(run_fingerprint.run_fingerprint({**config, "exchange": {
        "pair_whitelist": ["ETH/USD", "BTC/USD"]}}, ["&-ret_12"]), default=str))


def test_freqtrades_schema_defaults_count_as_set(tmp_path: Path) -> None:
    """freqtrade fills FreqAI's schema defaults before the model sees the config; freqai-seq
    checks the raw config before freqtrade starts: both must record alike."""
    config = _config(tmp_path)
    assert "buffer_train_data_candles" not in config["freqai"]["feature_parameters"]
    filled = copy.deepcopy(config)
    filled["freqai"]["feature_parameters"].update(buffer_train_data_candles=0,
                                                  shuffle_after_split=False)
    assert run_fingerprint.run_fingerprint(config, None) == \
        run_fingerprint.run_fingerprint(filled, None)
    filled["freqai"]["feature_parameters"]["buffer_train_data_candles"] = 10
    assert run_fingerprint.run_fingerprint(config, None) != \
        run_fingerprint.run_fingerprint(filled, None)


def test_the_early_check_reads_the_configs_given_to_freqtrade_after_the_separator() -> None:
    from freqai_seq.runs.runner import passthrough_configs

    assert passthrough_configs(["--", "-c", "a.json", "--config=b.json", "--cache", "none",
                                "-cc.json", "--strategy-path", "x"]) == [
        "a.json", "b.json", "c.json"]
