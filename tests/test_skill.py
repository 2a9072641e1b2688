"""`freqai-seq skill`: arm names, the hourly rows of 30m forecasts, paired differences."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.forecast_skill import REPORT_ARMS, SELECTION_ARMS
from freqai_seq.evaluation.skill import Scope, arm_params, hourly_dates, overlay
from freqai_seq.evaluation.skill_settings import DEFAULT_ARMS, PERIODS, Arm, parse_arm
from freqai_seq.evaluation.validation.forecast_metrics import paired_differences
from freqai_seq.runs.workspace import BUNDLED
from tests.conftest import CommandRun


def test_arm_names_round_trip_and_bad_names_are_refused() -> None:
    for period in DEFAULT_ARMS:
        assert [parse_arm(n).name for n in DEFAULT_ARMS[period]] == list(DEFAULT_ARMS[period])
    assert parse_arm("lightgbm-cross-1h-180d").freqaimodel == "LightGBMCrossPairRegressor"
    assert parse_arm("lstm-pair-30m-90d") == Arm("PyTorchLSTMRegressor", False, "30m", 90)
    with pytest.raises(FreqaiSeqError, match="lstm-cross-1h-90d"):
        parse_arm("lstm-both-1h-90d")
    for name in (*SELECTION_ARMS, *REPORT_ARMS):
        assert parse_arm(name).name == name
    config = {"freqai": {"model_training_parameters": {},
                         "feature_parameters": {"indicator_periods_candles": [10, 20]}}}
    selection, report = (Scope(p, PERIODS[p], BUNDLED, config, ("A/EUR", "B/EUR"))
                         for p in ("selection", "report"))
    har = parse_arm("lstm-cross-1h-180d-logvar_har")
    assert overlay(har, selection)["freqai"]["feature_parameters"] == {
        "volatility_label": "logvar"}
    assert overlay(har, selection)["exchange"]["pair_whitelist"] == ["A/EUR", "B/EUR"]
    # a 30m arm: the same hours of target and indicators as the config's at 1h
    assert overlay(parse_arm("lstm-pair-30m-90d"), selection)["freqai"]["feature_parameters"] == {
        "include_timeframes": ["30m"], "label_period_candles": 24,
        "indicator_periods_candles": [20, 40]}
    assert arm_params(har, selection)["volatility_baseline"] == "har"
    with pytest.raises(FreqaiSeqError, match="volatility option"):
        parse_arm("lstm-cross-1h-180d-vol")
    with pytest.raises(FreqaiSeqError, match="training options are for the sequence models"):
        parse_arm("lightgbm-pair-1h-30d-curriculum")
    curriculum = parse_arm("lstm-cross-1h-180d-curriculum")
    assert arm_params(curriculum, selection)["curriculum_epochs"] == 3
    assert overlay(curriculum, selection)["freqai"]["train_period_days"] == 180
    # an expanding arm's first window is the sliding arm's; FreqAI loads up to the cap
    expanding = parse_arm("hybrid-cross-1h-180d-logvar_har-expanding")
    assert (expanding.volatility, expanding.training) == ("logvar_har", "expanding")
    assert expanding.name == "hybrid-cross-1h-180d-logvar_har-expanding"
    assert overlay(expanding, selection)["freqai"]["train_period_days"] == 260
    assert arm_params(expanding, selection)["expanding_window_start"] == "2018-01-02"
    assert arm_params(expanding, report)["expanding_window_start"] == "2018-07-05"


def test_the_paired_column_compares_with_the_chosen_baseline(tmp_path: Path) -> None:
    from freqai_seq.evaluation import skill

    with pytest.raises(FreqaiSeqError, match="baseline arm lightgbm-pair-1h-30d is not among"):
        skill.run([parse_arm("lstm-cross-1h-180d")], "selection", tmp_path, 10, 0,
                  "lightgbm-pair-1h-30d")
    entry = {"value": 0.1, "ci_low": 0.0, "ci_high": 0.2}
    scores = {"mean_pair_ic": entry, "spearman_ic": entry, "cross_sectional_ic": entry,
              "mse_vs_zero": 1.0, "direction_accuracy": entry}
    run = {"train_s": 10.0, "windows": 2, "trades": 3, "profit_pct": 1.0}
    report = {"period": "selection", "timerange": "x", "pairs": ["A/B"], "rows": 1, "dates": 1,
              "block_candles": 168, "baseline": "lstm-cross-1h-180d",
              "arms": {"lstm-cross-1h-180d": {**scores, "ic_minus_baseline": (0.0, 0.0, 0.0)},
                       "lstm-cross-1h-180d-expanding": {
                           **scores, "ic_minus_baseline": (0.01, -0.02, 0.04)}},
              "runs": {"lstm-cross-1h-180d": run, "lstm-cross-1h-180d-expanding": run}}
    table = skill.format_report(report)
    assert "| vs lstm-cross-1h-180d (paired) |" in table
    assert "| lstm-cross-1h-180d | +0.100 [+0.000, +0.200] | n/a |" in table
    assert "| lstm-cross-1h-180d-expanding | +0.100 [+0.000, +0.200] | +0.010 [-0.020, +0.040] |" \
        in table
    report["baseline"] = skill.BASELINE
    assert "| vs LightGBM (paired) |" in skill.format_report(report)


def test_a_30m_forecast_is_scored_on_the_hour_whose_candle_closes_with_it() -> None:
    dates = pd.DatetimeIndex(["2019-01-01 10:00", "2019-01-01 10:30"], tz="UTC")
    mapped = hourly_dates(dates, "30m")
    assert list(mapped) == list(pd.DatetimeIndex(["2019-01-01 09:30", "2019-01-01 10:00"],
                                                 tz="UTC"))
    assert list(hourly_dates(dates, "1h")) == list(dates)


def test_paired_difference_of_ics_uses_the_same_resamples() -> None:
    rng = np.random.default_rng(0)
    n_dates, pairs = 600, 3
    truth = rng.normal(size=n_dates * pairs)
    dates = np.repeat(np.arange(n_dates), pairs)
    groups = np.tile(np.arange(pairs), n_dates)
    good = truth + rng.normal(scale=1.0, size=truth.size)
    noise = rng.normal(size=truth.size)
    out = paired_differences({"base": noise, "same": noise.copy(), "good": good}, "base",
                             "mean_pair_ic", truth, dates, 12, 200, 0, min_block=24,
                             groups=groups)
    assert out["same"] == (0.0, 0.0, 0.0)
    diff, low, high = out["good"]
    assert diff > 0.5 and 0 < low < diff < high


def test_skill_measures_on_the_users_own_config_candles_and_user_data(
        datadir: Path, tmp_path: Path, cli_in_process: CommandRun) -> None:
    """`freqai-seq skill -c ... --datadir ... --userdir ...` as a user runs it, with two tiny arms
    on a config whose pairs, stake currency and candle folder are not the bundled ones (real
    candles: two bundled pairs' files, quoted in EUR): the report scores exactly the config's
    pairs, the runs write under the given user-data folder, and a finished arm is reused only
    for the same inputs."""
    candles = tmp_path / "candles"
    candles.mkdir()
    pairs = ("ETH/EUR", "LTC/EUR")
    for coin in ("BTC", "ETH", "LTC"):  # BTC: the correlated pair
        shutil.copy(datadir / f"{coin}_USD-1h.feather", candles / f"{coin}_EUR-1h.feather")
    config = json.loads(Path("config.json").read_text())
    config["stake_currency"] = "EUR"
    config["exchange"]["pair_whitelist"] = list(pairs)
    config["freqai"]["feature_parameters"]["include_corr_pairlist"] = ["BTC/EUR"]
    config["freqai"]["model_training_parameters"] = {"window": 12, "hidden_size": 8,
                                                     "num_layers": 1, "epochs": 1}
    config_file = tmp_path / "mine.json"
    config_file.write_text(json.dumps(config))
    userdir, out = tmp_path / "ud", tmp_path / "out"
    arms = ("lightgbm-pair-1h-30d", "lstm-pair-1h-30d")
    week = "20190101-20190108"

    def skill(timerange: str) -> subprocess.CompletedProcess[str]:
        return cli_in_process("skill", "-c", str(config_file), "--datadir", str(candles),
                              "--userdir", str(userdir), "--arms", *arms, "--timerange",
                              timerange, "--bootstrap", "20", "--out", str(out))

    first = skill(week)
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads((out / "skill-selection.json").read_text())
    assert report["pairs"] == sorted(pairs) and report["timerange"] == week
    assert report["dates"] > 100 and report["rows"] > 200
    assert report["arms"]["lstm-pair-1h-30d"]["ic_minus_baseline"] is not None
    for arm in arms:
        assert report["runs"][arm]["windows"] == 1
        written = userdir / "models" / f"skill-selection-{arm}" / "backtesting_predictions"
        assert {f.name.split("_")[1] for f in written.glob("*.feather")} == {"eth", "ltc"}
    assert "| lstm-pair-1h-30d |" in first.stdout
    assert ", 2 pairs, weekly retraining" in first.stdout
    # a rerun on the same inputs reuses the finished arms; other dates are refused
    logs = [out / f"skill-selection-{arm}" / "backtest.log" for arm in arms]
    stamps = [log.stat().st_mtime_ns for log in logs]
    assert skill(week).returncode == 0
    assert [log.stat().st_mtime_ns for log in logs] == stamps  # no backtest ran again
    assert json.loads((out / "skill-selection.json").read_text())["runs"] == report["runs"]
    other = skill("20190108-20190115")
    assert other.returncode == 2 and "finished run on other configs" in other.stderr
