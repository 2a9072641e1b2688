"""Realized returns and naive baseline forecasts, recomputed from the OHLCV files.

Everything is looked up by timestamp on the candles as stored (no gap filling), so a gap gives
NaN instead of a return over the wrong span. A forecast made at row t (the candle that just
closed) is compared with close[t+h] / close[t] - 1; baselines use only closes up to t.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.metrics import realized_forward_return, timeframe_delta

ROLLING_LOOKBACK = 168  # candles of drift behind the rolling-mean baseline


def load_candles(datadir: Path, pair: str, timeframe: str) -> pd.DataFrame:
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    for fmt in ("feather", "json", "jsongz", "parquet"):
        candles = get_datahandler(datadir, fmt).ohlcv_load(pair, timeframe, CandleType.SPOT,
                                                           fill_missing=False)
        if not candles.empty:
            return candles
    raise FreqaiSeqError(f"No {timeframe} candles for {pair} in {datadir}.")


def past_return(candles: pd.DataFrame, horizon: int, timeframe: str) -> pd.Series:
    """close[t] / close[t-h] - 1: the 'last return persists' forecast, known at t."""
    close = candles.set_index("date")["close"]
    earlier = close.reindex(close.index - horizon * timeframe_delta(timeframe)).to_numpy()
    return pd.Series(close.to_numpy() / earlier - 1, index=close.index)


def rolling_drift(candles: pd.DataFrame, horizon: int, timeframe: str,
                  lookback: int = ROLLING_LOOKBACK) -> pd.Series:
    """h times the mean one-candle return of the last `lookback` candles (at least half of them
    present): the 'recent drift continues' forecast, known at t."""
    one = past_return(candles, 1, timeframe)
    span = lookback * timeframe_delta(timeframe)
    return horizon * one.rolling(span, min_periods=lookback // 2).mean()


def truth_and_baselines(candles: pd.DataFrame, horizon: int,
                        timeframe: str) -> dict[str, pd.Series]:
    return {"realized": realized_forward_return(candles, horizon, timeframe),
            "persistence": past_return(candles, horizon, timeframe),
            "rolling_mean": rolling_drift(candles, horizon, timeframe)}
