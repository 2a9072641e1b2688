"""Volatility forecasts (`&-vol_<h>`, `&-logvar_<h>`: freqai_seq.model.volatility_forecast) scored
against the volatility baselines every risk desk uses.

All in per-candle variance of one-candle log returns. The truth is the sample variance of the h
log returns after t (the label's definition,
freqai_seq.strategy.targets.forward_volatility), looked up on the full candle grid so a gap
gives no score. Baselines known at t:

- trailing: the sample variance of the last h log returns;
- EWMA: RiskMetrics (lambda 0.94) of squared log returns;
- HAR-RV (Corsi 2009): target ~ b0 + b1 RV_day + b2 RV_week + b3 RV_month (freqai_seq.model.har),
  fitted by least squares at the start of every walk-forward window on the trailing
  `train_period_days` of rows whose target was known before that start, then used for the
  window (no look-ahead).

Scores: MSE of the variance, QLIKE = y/f - ln(y/f) - 1 (y realized, f forecast variance; the
loss volatility forecasts are ranked by, robust to noise in y) and the Spearman IC of forecast
against realized volatility. Rows whose realized variance is 0 (flat candles freqtrade fills
into gaps) have no QLIKE; they are excluded and counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from freqai_seq.evaluation.metrics import timeframe_delta
from freqai_seq.evaluation.validation.forecast_metrics import means_with_ci, score_with_ci
from freqai_seq.evaluation.validation.intervals import ewma_sigma
from freqai_seq.model.har import HAR_DAYS, har_components
from freqai_seq.model.volatility_forecast import forecast_variance

BASELINES = ("trailing", "ewma", "har")


def log_returns(candles: pd.DataFrame, timeframe: str) -> pd.Series:
    """One-candle log returns on the full date grid: NaN across a gap."""
    close = candles.set_index("date")["close"]
    close.index = pd.DatetimeIndex(close.index).as_unit("ns")
    grid = pd.date_range(close.index[0], close.index[-1], freq=timeframe_delta(timeframe))
    return np.log(close.reindex(grid)).diff()


def realized_variance(returns: pd.Series, horizon: int) -> pd.Series:
    """Sample variance of the log returns t+1 .. t+h, indexed at t."""
    return returns.rolling(horizon).var().shift(-horizon)


def har_forecast(returns: pd.Series, horizon: int, timeframe: str,
                 window_starts: list[pd.Timestamp], train_days: float) -> pd.Series:
    """HAR-RV refitted at each window start on rows whose target ends before it."""
    design = har_components(returns, pd.Timedelta(days=1) // timeframe_delta(timeframe))
    target = realized_variance(returns, horizon)
    candle = timeframe_delta(timeframe)
    out = pd.Series(np.nan, index=returns.index)
    starts = sorted(window_starts)
    for start, stop in zip(starts, [*starts[1:], returns.index[-1] + candle], strict=True):
        fit_rows = ((design.index >= start - pd.Timedelta(days=train_days))
                    & (design.index <= start - horizon * candle))
        x, y = design[fit_rows], target[fit_rows]
        ok = np.isfinite(x.to_numpy()).all(axis=1) & np.isfinite(y.to_numpy())
        if ok.sum() < 10 * (len(HAR_DAYS) + 1):
            continue
        a = np.column_stack([np.ones(ok.sum()), x.to_numpy()[ok]])
        coef = np.linalg.lstsq(a, y.to_numpy()[ok], rcond=None)[0]
        rows = (design.index >= start) & (design.index < stop)
        floor = float(y.to_numpy()[ok][y.to_numpy()[ok] > 0].min())  # OLS can go below 0
        out[rows] = np.maximum(np.column_stack([np.ones(rows.sum()),
                                                design[rows].to_numpy()]) @ coef, floor)
    return out


def volatility_rows(predictions: pd.DataFrame, candles: pd.DataFrame, horizon: int,
                    label: str, timeframe: str, window_starts: list[pd.Timestamp],
                    train_days: float) -> pd.DataFrame:
    """Usable forecasts with the realized variance and every baseline, as variances (NaN where
    one is unknown: scoring excludes and counts those rows)."""
    usable = predictions[predictions["do_predict"] == 1]
    dates = pd.DatetimeIndex(usable["date"]).as_unit("ns")
    returns = log_returns(candles, timeframe)
    frame = pd.DataFrame({
        "date": dates, "realized": realized_variance(returns, horizon).reindex(dates).to_numpy(),
        "model": forecast_variance(label, usable[label].to_numpy(np.float64)),
        "trailing": returns.rolling(horizon).var().reindex(dates).to_numpy(),
        "ewma": (ewma_sigma(candles, timeframe)**2).set_axis(
            pd.DatetimeIndex(candles["date"]).as_unit("ns")).reindex(dates).to_numpy(),
        "har": har_forecast(returns, horizon, timeframe, window_starts, train_days)
        .reindex(dates).to_numpy()})
    return frame


def qlike(realized: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    ratio = realized / forecast
    return ratio - np.log(ratio) - 1


def score_volatility(rows: pd.DataFrame, horizon: int, resamples: int, seed: int,
                     min_block: int, groups: np.ndarray) -> dict[str, Any]:
    names = ("model", *BASELINES)
    finite = np.isfinite(rows[["realized", *names]].to_numpy()).all(axis=1)
    rows, groups = rows[finite], groups[finite]
    flat = rows["realized"].to_numpy() <= 0
    positive = (rows[list(names)].to_numpy() > 0).all(axis=1)
    kept = rows[~flat & positive]
    y = kept["realized"].to_numpy()
    values: dict[str, np.ndarray] = {}
    for name in names:
        f = kept[name].to_numpy()
        values[f"{name}|qlike"] = qlike(y, f)
        values[f"{name}|mse"] = (f - y) ** 2
    for name in BASELINES:
        values[f"model-{name}|qlike"] = values["model|qlike"] - values[f"{name}|qlike"]
    dates = kept["date"].to_numpy()
    cells = means_with_ci(values, dates, horizon, resamples, seed, min_block=min_block)
    ic = score_with_ci({n: np.sqrt(kept[n].to_numpy()) for n in names}, np.sqrt(y), dates,
                       horizon, resamples, seed, min_block=min_block,
                       groups=groups[~flat & positive])
    out: dict[str, Any] = {"rows": len(kept), "excluded_flat": int(flat.sum()),
                           # no realized variance yet, across a gap, or a baseline without
                           # enough history (HAR's first window)
                           "excluded_not_finite": int((~finite).sum()),
                           "excluded_nonpositive_forecast": int((~flat & ~positive).sum())}
    for key, (value, low, high) in cells.items():
        name, score = key.split("|")
        out.setdefault(name, {})[score] = {"value": value, "ci_low": low, "ci_high": high}
    for name in names:
        out[name]["spearman_ic"] = ic[name].as_dict()["spearman_ic"]
        out[name]["mean_pair_ic"] = ic[name].as_dict()["mean_pair_ic"]
    for name in BASELINES:
        base = out[name]["qlike"]["value"]
        out[f"model-{name}"]["qlike_improvement"] = (
            1 - out["model"]["qlike"]["value"] / base if base else None)
    return out


def evaluate_volatility(rows_by_pair: dict[str, pd.DataFrame], horizon: int, resamples: int,
                        seed: int, min_block: int) -> dict[str, Any]:
    columns = ["realized", "model", *BASELINES]
    pairs = {p: r for p, r in rows_by_pair.items()
             if np.isfinite(r[columns].to_numpy()).all(axis=1).sum() >= 3}
    if not pairs:
        return {"scored": False}
    pooled = pd.concat(pairs.values(), ignore_index=True)
    groups = np.concatenate([np.full(len(r), i) for i, r in enumerate(pairs.values())])
    return {"scored": True,
            "pooled": score_volatility(pooled, horizon, resamples, seed, min_block, groups),
            "per_pair": {p: score_volatility(r, horizon, resamples, seed, min_block,
                                             np.zeros(len(r), np.int64))
                         for p, r in pairs.items()}}
