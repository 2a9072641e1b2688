"""Out-of-sample forecast metrics against realized targets recomputed from OHLCV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from freqai_seq.evaluation.validation.forecast_metrics import point_scores


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """One candle of a freqtrade timeframe ("1h", "1d", "1w", "1M")."""
    from freqtrade.exchange import timeframe_to_seconds

    return pd.Timedelta(seconds=timeframe_to_seconds(timeframe))


def realized_forward_return(candles: pd.DataFrame, horizon: int, timeframe: str) -> pd.Series:
    """Return from each candle's close to the close `horizon` candles later, by timestamp.

    Looked up by date, not by row, so a gap in the data gives NaN instead of a return over the
    wrong span; indexed by the date the forecast was made at.
    """
    close = candles.set_index("date")["close"]
    later = close.reindex(close.index + horizon * timeframe_delta(timeframe)).to_numpy()
    return pd.Series(later / close.to_numpy() - 1, index=close.index)


@dataclass(frozen=True)
class ForecastScores:
    rows: int
    spearman_ic: float
    direction_accuracy: float
    mse_vs_zero: float  # MSE of the forecast / MSE of always forecasting 0
    r2: float
    explained_variance: float
    pearson: float


def score(pred: np.ndarray, truth: np.ndarray) -> ForecastScores:
    """`bench` and `tune`'s summary over rows where both are finite, with the definitions of
    `validate` (freqai_seq.evaluation.validation.forecast_metrics.point_scores, the one place
    they live)."""
    ok = np.isfinite(pred) & np.isfinite(truth)
    p, t = pred[ok], truth[ok]
    if len(p) < 3:
        return ForecastScores(len(p), *[float("nan")] * 6)
    scores = point_scores(p, t)
    return ForecastScores(len(p), scores["spearman_ic"], scores["direction_accuracy"],
                          scores["mse_vs_zero"], scores["r2"], scores["explained_variance"],
                          scores["pearson"])


def spread_error_ic(pred: np.ndarray, spread: np.ndarray, truth: np.ndarray) -> float:
    """Spearman correlation of a predicted spread with the absolute error it should warn of:
    above 0 when a larger spread does mean a worse forecast."""
    ok = np.isfinite(pred) & np.isfinite(spread) & np.isfinite(truth)
    if ok.sum() < 3 or np.std(spread[ok]) == 0:
        return float("nan")
    return float(spearmanr(spread[ok], np.abs(pred[ok] - truth[ok])).statistic)
