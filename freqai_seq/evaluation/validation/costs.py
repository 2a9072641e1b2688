"""After-fee returns of the plain signal rule, for the model and the naive baselines alike.

The rule, per candle t with a usable forecast of the h-candle return: be long over the next
candle when the forecast clears the round-trip fee (what one entry and one exit cost), else flat.
Each change of position pays the one-way fee, so a return series is
position[t] * (close[t+1] / close[t] - 1) - fee * |position[t] - position[t-1]|, and a position
still open at the last candle pays its exit fee there. Turnover is the mean |position change| per
candle; the total return of a pair compounds its per-candle returns. A candle held into a gap
(no next close) earns 0 and is counted. The baselines' forecasts (zero, persistence, rolling
mean) go through the same rule on the same candles; `zero` never clears a fee, so it is the
flat account every rule must beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from freqai_seq.evaluation.metrics import realized_forward_return
from freqai_seq.evaluation.validation.forecast_metrics import means_with_ci
from freqai_seq.evaluation.validation.horizons import BASELINES
from freqai_seq.evaluation.validation.truth import truth_and_baselines

DEFAULT_FEE = 0.001  # freqtrade's usual spot fee when the run's config sets none


def run_fee(run_params: dict[str, Any], config: dict[str, Any] | None) -> tuple[float, str]:
    """The one-way fee and where it came from."""
    for where, settings in (("the run's config", run_params), ("the config", config or {})):
        fee = settings.get("fee")
        if isinstance(fee, int | float) and not isinstance(fee, bool):
            return float(fee), where
    return DEFAULT_FEE, "default (neither the run nor the config sets `fee`)"


def rule_returns(forecast: np.ndarray, usable: np.ndarray, next_return: np.ndarray,
                 fee: float) -> tuple[np.ndarray, np.ndarray]:
    """(after-fee return, position) per candle of one pair, candles in time order."""
    position = (usable & (forecast > 2 * fee)).astype(np.float64)
    changes = np.abs(np.diff(position, prepend=0.0))
    if len(position):
        changes[-1] += position[-1]  # closed at the end of the period
    earned = np.where(position > 0, np.nan_to_num(next_return), 0.0)
    return earned - fee * changes, position


def cost_rows(predictions: pd.DataFrame, candles: pd.DataFrame, horizon: int, label: str,
              timeframe: str, fee: float) -> pd.DataFrame:
    """Per candle of one pair: the after-fee return and position of the model and each
    baseline under the rule (rows without a usable forecast are flat)."""
    frame = predictions.sort_values("date")
    dates = pd.DatetimeIndex(frame["date"]).as_unit("ns")
    series = truth_and_baselines(candles, horizon, timeframe)
    next_return = realized_forward_return(candles, 1, timeframe)

    def at(values: pd.Series) -> np.ndarray:
        return values.set_axis(pd.DatetimeIndex(values.index).as_unit("ns")).reindex(
            dates).to_numpy(np.float64)

    usable = (frame["do_predict"] == 1).to_numpy()
    forecasts = {"model": frame[label].to_numpy(np.float64), "zero": np.zeros(len(frame)),
                 **{name: at(series[name]) for name in BASELINES if name != "zero"}}
    out = pd.DataFrame({"date": dates, "next_candle_return": at(next_return)})
    for name, forecast in forecasts.items():
        ok = usable & np.isfinite(forecast)
        out[f"after_fee_return_{name}"], out[f"position_{name}"] = rule_returns(
            np.nan_to_num(forecast), ok, out["next_candle_return"].to_numpy(), fee)
    return out


def evaluate_costs(rows_by_pair: dict[str, pd.DataFrame], horizon: int, fee: float,
                   fee_source: str, resamples: int, seed: int, min_block: int) -> dict[str, Any]:
    """Mean after-fee return per candle (CI), total over the period (the mean over pairs of
    each pair's compounded return), turnover, time in market and candles held into a gap of
    the model and each baseline."""
    pairs = {p: r for p, r in rows_by_pair.items() if len(r) >= 3}
    if not pairs:
        return {"scored": False}
    pooled = pd.concat(pairs.values(), ignore_index=True)
    names = ("model", *BASELINES)
    values = {n: pooled[f"after_fee_return_{n}"].to_numpy() for n in names}
    cells = means_with_ci(values, pooled["date"].to_numpy(), horizon, resamples, seed,
                          min_block=min_block)
    out: dict[str, Any] = {"scored": True, "fee": fee, "fee_source": fee_source,
                           "round_trip_fee": 2 * fee, "candles": len(pooled)}
    for n in names:
        value, low, high = cells[n]
        out[n] = {
            "return_per_candle": {"value": value, "ci_low": low, "ci_high": high},
            "total_return": float(np.mean([np.prod(1 + r[f"after_fee_return_{n}"]) - 1
                                           for r in pairs.values()])),
            "held_into_gap": int(((pooled[f"position_{n}"] > 0)
                                  & pooled["next_candle_return"].isna()).sum()),
            "turnover": float(np.mean(np.concatenate([
                np.abs(np.diff(r[f"position_{n}"].to_numpy(), prepend=0.0))
                for r in pairs.values()]))),
            "time_in_market": float(pooled[f"position_{n}"].mean())}
    return out
