"""`freqai-seq skill`: arm names, the hourly rows of 30m forecasts, paired differences."""

from __future__ import annotations

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
    assert arm_params(har, {"freqai": {"model_training_parameters": {}}})[
        "volatility_baseline"] == "har"
    with pytest.raises(FreqaiSeqError, match="volatility option"):
        parse_arm("lstm-cross-1h-180d-vol")


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
