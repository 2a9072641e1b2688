"""Interval forecasts of the h-candle return, scored beside two baselines on the same rows.

An interval is a pair of quantile labels `&-q<tau>_ret_<h>` and `&-q<1-tau>_ret_<h>` (nominal
coverage 1 - 2 tau). Coverage alone is easy to game, so each interval is scored by empirical
coverage, mean width and the interval (Winkler) score, which charges the width plus 2/alpha
times the distance by which the outcome falls outside. Baselines, known at the forecast candle:

- trailing: the empirical tau and 1 - tau quantiles of the past h-candle returns of the last
  TRAILING_DAYS days;
- EWMA: a zero-mean Gaussian interval of the h-candle log return with per-candle variance from
  RiskMetrics' EWMA (lambda 0.94) of one-candle log returns, sigma * sqrt(h);
- and, when the model writes an MC-dropout spread (`&-unc_ret_<h>`), the forecast +- z spread.

Scores are pooled, per pair and per tercile of the EWMA volatility at the forecast candle (an
ex-ante split: a model can be right on average and wrong exactly when it matters), with
block-bootstrap CIs and the paired CI of the Winkler difference against each baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from freqai_seq.evaluation.metrics import realized_forward_return, timeframe_delta
from freqai_seq.evaluation.validation.forecast_metrics import means_with_ci
from freqai_seq.evaluation.validation.truth import past_return
from freqai_seq.labels import QUANTILE_RETURN, label_horizon, return_label, uncertainty_label
from freqai_seq.model.tasks import parse_labels

EWMA_LAMBDA = 0.94
TRAILING_DAYS = 30
TERCILES = ("low", "mid", "high")


def interval_labels(columns: list[str]) -> dict[int, list[tuple[str, str, float]]]:
    """Horizon -> (lower label, upper label, nominal coverage) of the return intervals."""
    names = [c for c in columns if QUANTILE_RETURN.match(c)]
    out: dict[int, list[tuple[str, str, float]]] = {}
    for group in parse_labels(names).quantile_groups:
        horizon = label_horizon(f"&-{group.target}")
        for lo, hi, coverage in group.intervals():
            out.setdefault(horizon, []).append((names[lo], names[hi], coverage))
    return out


def ewma_sigma(candles: pd.DataFrame, timeframe: str, lam: float = EWMA_LAMBDA) -> pd.Series:
    """Per-candle volatility forecast known at t: RiskMetrics' EWMA of squared one-candle log
    returns up to t (a gap leaves the recursion where it was)."""
    log_return = np.log1p(past_return(candles, 1, timeframe))
    return np.sqrt((log_return**2).ewm(alpha=1 - lam, adjust=False, ignore_na=True).mean())


def baseline_intervals(candles: pd.DataFrame, horizon: int, coverage: float,
                       timeframe: str) -> dict[str, tuple[pd.Series, pd.Series]]:
    """The trailing-quantile and EWMA-Gaussian intervals of each candle, indexed by date."""
    tail = (1 - coverage) / 2
    past = past_return(candles, horizon, timeframe)
    span = pd.Timedelta(days=TRAILING_DAYS)
    min_rows = int(span / timeframe_delta(timeframe)) // 2
    rolling = past.rolling(span, min_periods=min_rows)
    spread = norm.ppf(1 - tail) * ewma_sigma(candles, timeframe) * np.sqrt(horizon)
    return {"trailing": (rolling.quantile(tail), rolling.quantile(1 - tail)),
            "ewma": (np.expm1(-spread), np.expm1(spread))}


def winkler(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray,
            coverage: float) -> np.ndarray:
    """Interval score per row: width + 2/alpha x the miss (alpha = 1 - coverage)."""
    alpha = 1 - coverage
    return ((upper - lower) + 2 / alpha * np.clip(lower - truth, 0, None)
            + 2 / alpha * np.clip(truth - upper, 0, None))


def interval_rows(predictions: pd.DataFrame, candles: pd.DataFrame, horizon: int,
                  lower: str, upper: str, coverage: float, timeframe: str) -> pd.DataFrame:
    """Usable forecasts (do_predict == 1) with the realized return, the model's interval, the
    baselines' and the ex-ante EWMA volatility, on rows where all are finite."""
    usable = predictions[predictions["do_predict"] == 1]
    dates = pd.DatetimeIndex(usable["date"]).as_unit("ns")

    def at(series: pd.Series) -> np.ndarray:
        return series.set_axis(pd.DatetimeIndex(series.index).as_unit("ns")).reindex(
            dates).to_numpy(np.float64)

    frame = pd.DataFrame({"date": dates,
                          "realized": at(realized_forward_return(candles, horizon, timeframe)),
                          "model_lower": usable[lower].to_numpy(np.float64),
                          "model_upper": usable[upper].to_numpy(np.float64),
                          "ewma_sigma": at(ewma_sigma(candles, timeframe))})
    for name, (lo, hi) in baseline_intervals(candles, horizon, coverage, timeframe).items():
        frame[f"{name}_lower"], frame[f"{name}_upper"] = at(lo), at(hi)
    point = return_label(horizon)
    spread = uncertainty_label(point)
    if spread in usable and point in usable and (usable[spread] > 0).any():
        z = norm.ppf(1 - (1 - coverage) / 2)
        centre, width = usable[point].to_numpy(np.float64), usable[spread].to_numpy(np.float64)
        frame["mc_dropout_lower"], frame["mc_dropout_upper"] = centre - z * width, \
            centre + z * width
    return frame[np.isfinite(frame.drop(columns="date").to_numpy()).all(axis=1)]


def forecasts_of(rows: pd.DataFrame) -> list[str]:
    return [c[: -len("_lower")] for c in rows.columns if c.endswith("_lower")]


def score_intervals(rows: pd.DataFrame, coverage: float, horizon: int, resamples: int,
                    seed: int, min_block: int) -> dict[str, Any]:
    """Coverage, width and Winkler score of every interval in `rows`, and the Winkler score of
    the model minus each baseline's, with CIs."""
    truth = rows["realized"].to_numpy()
    values: dict[str, np.ndarray] = {}
    names = forecasts_of(rows)
    for name in names:
        lo, hi = rows[f"{name}_lower"].to_numpy(), rows[f"{name}_upper"].to_numpy()
        values[f"{name}|coverage"] = ((truth >= lo) & (truth <= hi)).astype(np.float64)
        values[f"{name}|width"] = hi - lo
        values[f"{name}|winkler"] = winkler(lo, hi, truth, coverage)
    for name in names[1:]:
        values[f"model-{name}|winkler"] = values["model|winkler"] - values[f"{name}|winkler"]
    cells = means_with_ci(values, rows["date"].to_numpy(), horizon, resamples, seed,
                          min_block=min_block)
    out: dict[str, Any] = {"rows": len(rows)}
    for key, (value, low, high) in cells.items():
        name, score = key.split("|")
        out.setdefault(name, {})[score] = {"value": value, "ci_low": low, "ci_high": high}
    return out


def evaluate_intervals(rows_by_pair: dict[str, pd.DataFrame], coverage: float, horizon: int,
                       resamples: int, seed: int, min_block: int) -> dict[str, Any]:
    """Pooled, per pair and per ex-ante volatility tercile (cut on the pooled rows)."""
    pairs = {p: r for p, r in rows_by_pair.items() if len(r) >= 3}
    if not pairs:
        return {"scored": False}
    pooled = pd.concat(pairs.values(), ignore_index=True)
    cuts = np.quantile(pooled["ewma_sigma"], [1 / 3, 2 / 3])
    tercile = np.digitize(pooled["ewma_sigma"], cuts)

    def score(rows: pd.DataFrame) -> dict[str, Any]:
        return score_intervals(rows, coverage, horizon, resamples, seed, min_block)

    return {"scored": True, "pooled": score(pooled),
            "per_pair": {p: score(r) for p, r in pairs.items()},
            "per_volatility_tercile": {name: score(pooled[tercile == i])
                                       for i, name in enumerate(TERCILES)
                                       if (tercile == i).sum() >= 3},
            "volatility_tercile_cuts": [float(c) for c in cuts]}
