"""The interval, volatility and after-fee scores of `validate`, on hand-computed values, and the
baselines' freedom from look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from freqai_seq.evaluation.validation.costs import evaluate_costs, rule_returns
from freqai_seq.evaluation.validation.forecast_metrics import means_with_ci
from freqai_seq.evaluation.validation.horizons import BASELINES
from freqai_seq.evaluation.validation.intervals import baseline_intervals, ewma_sigma, winkler
from freqai_seq.evaluation.validation.volatility import (
    evaluate_volatility,
    har_forecast,
    log_returns,
    qlike,
    realized_variance,
)


def candles(closes: np.ndarray, start: str = "2021-01-01") -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range(start, periods=len(closes), freq="1h",
                                               tz="UTC"), "close": closes})


def random_walk(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return candles(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))))


def test_winkler_score_by_hand() -> None:
    lower, upper = np.full(3, -1.0), np.full(3, 1.0)
    truth = np.array([0.0, 2.0, -3.0])
    # inside: the width; above by 1 at 80 %: 2 + 2 / 0.2 * 1; below by 2: 2 + 10 * 2
    np.testing.assert_allclose(winkler(lower, upper, truth, 0.8), [2.0, 12.0, 22.0])


def test_ewma_volatility_by_hand() -> None:
    closes = np.array([100.0, 101.0, 99.0, 99.5])
    r = np.diff(np.log(closes))
    sigma = ewma_sigma(candles(closes), "1h").to_numpy()
    v1 = r[0] ** 2
    v2 = 0.94 * v1 + 0.06 * r[1] ** 2
    v3 = 0.94 * v2 + 0.06 * r[2] ** 2
    assert math.isnan(sigma[0])
    np.testing.assert_allclose(sigma[1:], np.sqrt([v1, v2, v3]))


def test_trailing_interval_is_the_empirical_quantile_of_past_returns() -> None:
    data = random_walk(24 * 40)
    lower, upper = baseline_intervals(data, 12, 0.8, "1h")["trailing"]
    t = 24 * 35
    close = data["close"].to_numpy()
    past = close[t - 24 * 30 + 1:t + 1] / close[t - 24 * 30 + 1 - 12:t + 1 - 12] - 1
    assert lower.iloc[t] == pytest.approx(np.quantile(past, 0.1))
    assert upper.iloc[t] == pytest.approx(np.quantile(past, 0.9))


def test_qlike_and_realized_variance_by_hand() -> None:
    assert qlike(np.array([1.0]), np.array([1.0]))[0] == 0.0
    assert qlike(np.array([2.0]), np.array([1.0]))[0] == pytest.approx(1 - math.log(2))
    closes = np.array([100.0, 101.0, 99.0, 99.5, 100.0])
    returns = log_returns(candles(closes), "1h")
    r = np.diff(np.log(closes))
    assert realized_variance(returns, 2).iloc[0] == pytest.approx(np.var(r[:2], ddof=1))


def test_baselines_know_only_the_past() -> None:
    """Changing the candles after T changes no baseline forecast made before T."""
    data = random_walk(24 * 120, seed=1)
    changed = data.copy()
    cut = 24 * 100
    changed.loc[cut:, "close"] *= np.exp(np.random.default_rng(9).normal(0, 0.05,
                                                                          len(data) - cut))
    starts = [data["date"].iloc[24 * 60], data["date"].iloc[24 * 90]]

    def forecasts(frame: pd.DataFrame) -> pd.DataFrame:
        returns = log_returns(frame, "1h")
        lower, upper = baseline_intervals(frame, 12, 0.8, "1h")["trailing"]
        return pd.DataFrame({"har": har_forecast(returns, 12, "1h", starts, 30).to_numpy(),
                             "ewma": ewma_sigma(frame, "1h").to_numpy(),
                             "lower": lower.to_numpy(), "upper": upper.to_numpy()})

    before = forecasts(data).iloc[:cut]
    assert before["har"].notna().sum() > 24 * 30  # the HAR windows were fitted
    pd.testing.assert_frame_equal(before, forecasts(changed).iloc[:cut])


def test_after_fee_returns_by_hand() -> None:
    forecast = np.array([0.01, 0.0, 0.005, 0.003])
    next_return = np.array([0.02, -0.01, 0.01, -0.005])
    returns, position = rule_returns(forecast, np.ones(4, bool), next_return, fee=0.001)
    # long when the forecast clears the round trip (0.002): rows 0, 2, 3; a fee per change,
    # and the position still open at the end pays its exit fee there
    np.testing.assert_array_equal(position, [1, 0, 1, 1])
    np.testing.assert_allclose(returns, [0.019, -0.001, 0.009, -0.006])
    rows = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=4, freq="1h"),
                         "next_candle_return": [0.02, -0.01, np.nan, -0.005],
                         "after_fee_return_model": returns, "position_model": position,
                         **{f"{k}_{b}": np.zeros(4) for b in BASELINES
                            for k in ("after_fee_return", "position")}})
    scores = evaluate_costs({"A": rows}, 1, 0.001, "test", 20, 0, 1)["model"]
    assert scores["total_return"] == pytest.approx(1.019 * 0.999 * 1.009 * 0.994 - 1)  # compounded
    assert scores["held_into_gap"] == 1  # row 2 is long and has no next close


def test_paired_mean_differences_have_their_own_interval() -> None:
    rng = np.random.default_rng(0)
    dates = np.repeat(np.arange(400), 2)
    a = rng.normal(1.0, 1.0, 800)
    cells = means_with_ci({"a": a, "a-a": a - a}, dates, 5, 200, 0)
    value, low, high = cells["a"]
    assert value == pytest.approx(a.mean()) and low < value < high
    assert cells["a-a"] == (0.0, 0.0, 0.0)


def test_har_is_least_squares_on_the_rows_known_before_each_window() -> None:
    data = random_walk(24 * 120, seed=2)
    returns = log_returns(data, "1h")
    start = data["date"].iloc[24 * 100].as_unit("ns")
    forecast = har_forecast(returns, 12, "1h", [start], 30)
    # by hand: day / week / month means of squared returns, the target 12 candles ahead, rows
    # from 30 days before the start up to the last one whose target ends before it
    squared = returns.to_numpy() ** 2
    n = len(squared)

    def mean_back(t: int, k: int) -> float:
        window = squared[max(0, t - k + 1):t + 1]
        window = window[np.isfinite(window)]
        return window.mean() if len(window) >= max(1, k // 2) else np.nan

    design = np.array([[1.0, mean_back(t, 24), mean_back(t, 168), mean_back(t, 720)]
                       for t in range(n)])
    log_close = np.log(data["close"].to_numpy())
    target = np.array([np.var(np.diff(log_close[t:t + 13]), ddof=1) if t + 12 < n else np.nan
                       for t in range(n)])  # the 12 log returns after t
    first, last = 24 * 100 - 24 * 30, 24 * 100 - 12
    rows = np.arange(first, last + 1)
    rows = rows[np.isfinite(design[rows]).all(axis=1) & np.isfinite(target[rows])]
    coef = np.linalg.lstsq(design[rows], target[rows], rcond=None)[0]
    t = 24 * 100 + 5
    assert forecast.iloc[t] == pytest.approx(max(design[t] @ coef, target[rows].min()), rel=1e-9)
    assert forecast.iloc[:24 * 100].isna().all()  # nothing before the first window


def test_volatility_scoring_excludes_and_counts_unknown_flat_and_nonpositive_rows() -> None:
    rng = np.random.default_rng(4)
    n = 200
    rows = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="1h"),
                         **{c: rng.uniform(1e-5, 2e-5, n)
                            for c in ("realized", "model", "trailing", "ewma", "har")}})
    rows.loc[:29, "har"] = np.nan  # HAR's first window: no forecast yet
    rows.loc[n - 12:, "realized"] = np.nan  # the future is not known yet
    rows.loc[50:54, "realized"] = 0.0  # flat candles
    rows.loc[60, "model"] = -1e-5  # a non-positive forecast
    pooled = evaluate_volatility({"A": rows, "B": rows.copy()}, 12, 20, 0, 12)["pooled"]
    assert (pooled["excluded_not_finite"], pooled["excluded_flat"],
            pooled["excluded_nonpositive_forecast"], pooled["rows"]) == (84, 10, 2, 304)
    assert pooled["model"]["qlike"]["value"] > 0
