"""`freqai-seq skill`: arm names, the hourly rows of 30m forecasts, paired differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.forecast_skill import REPORT_ARMS, SELECTION_ARMS
from freqai_seq.evaluation.skill import arm_params, hourly_dates, overlay
from freqai_seq.evaluation.skill_settings import DEFAULT_ARMS, Arm, parse_arm
from freqai_seq.evaluation.validation.forecast_metrics import paired_differences


def test_arm_names_round_trip_and_bad_names_are_refused() -> None:
    for period in DEFAULT_ARMS:
        assert [parse_arm(n).name for n in DEFAULT_ARMS[period]] == list(DEFAULT_ARMS[period])
    assert parse_arm("lightgbm-cross-1h-180d").freqaimodel == "LightGBMCrossPairRegressor"
    assert parse_arm("lstm-pair-30m-90d") == Arm("PyTorchLSTMRegressor", False, "30m", 90)
    with pytest.raises(FreqaiSeqError, match="lstm-cross-1h-90d"):
        parse_arm("lstm-both-1h-90d")
    for name in (*SELECTION_ARMS, *REPORT_ARMS):
        assert parse_arm(name).name == name
    har = parse_arm("lstm-cross-1h-180d-logvar_har")
    assert overlay(har)["freqai"]["feature_parameters"] == {"volatility_label": "logvar"}
    config = {"freqai": {"model_training_parameters": {}}}
    assert arm_params(har, config, "selection")["volatility_baseline"] == "har"
    with pytest.raises(FreqaiSeqError, match="volatility option"):
        parse_arm("lstm-cross-1h-180d-vol")
    with pytest.raises(FreqaiSeqError, match="training options are for the sequence models"):
        parse_arm("lightgbm-pair-1h-30d-curriculum")
    curriculum = parse_arm("lstm-cross-1h-180d-curriculum")
    assert arm_params(curriculum, config, "selection")["curriculum_epochs"] == 3
    assert overlay(curriculum)["freqai"]["train_period_days"] == 180
    # an expanding arm's first window is the sliding arm's; FreqAI loads up to the cap
    expanding = parse_arm("hybrid-cross-1h-180d-logvar_har-expanding")
    assert (expanding.volatility, expanding.training) == ("logvar_har", "expanding")
    assert expanding.name == "hybrid-cross-1h-180d-logvar_har-expanding"
    assert overlay(expanding)["freqai"]["train_period_days"] == 260
    assert arm_params(expanding, config, "selection")["expanding_window_start"] == "2018-01-02"
    assert arm_params(expanding, config, "report")["expanding_window_start"] == "2018-07-05"


def test_the_paired_column_compares_with_the_chosen_baseline(tmp_path: Path) -> None:
    from freqai_seq.evaluation import skill

    with pytest.raises(FreqaiSeqError, match="baseline arm lightgbm-pair-1h-30d is not among"):
        skill.run([parse_arm("lstm-cross-1h-180d")], "selection", tmp_path, tmp_path, 10, 0,
                  "lightgbm-pair-1h-30d")
    entry = {"value": 0.1, "ci_low": 0.0, "ci_high": 0.2}
    scores = {"mean_pair_ic": entry, "spearman_ic": entry, "cross_sectional_ic": entry,
              "mse_vs_zero": 1.0, "direction_accuracy": entry}
    run = {"train_s": 10.0, "windows": 2, "trades": 3, "profit_pct": 1.0}
    report = {"period": "selection", "timerange": "x", "rows": 1, "dates": 1,
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
