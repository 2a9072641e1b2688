"""Stationary TA-Lib features for FreqAI's feature_engineering_* hooks, shared by all strategies.

Every feature is scale-free (ratios, oscillators, returns) so one model can serve pairs whose
prices differ by four orders of magnitude; raw prices and volumes are left out on purpose.
"""

from __future__ import annotations

import numpy as np
import talib.abstract as ta
from pandas import DataFrame


def expand_all(df: DataFrame, period: int) -> DataFrame:
    """Features computed for every `indicator_periods_candles` entry (FreqAI names them)."""
    close = df["close"]
    df["%-rsi-period"] = ta.RSI(df, timeperiod=period)
    df["%-mfi-period"] = ta.MFI(df, timeperiod=period)
    df["%-adx-period"] = ta.ADX(df, timeperiod=period)
    df["%-close_sma-period"] = close / ta.SMA(df, timeperiod=period) - 1
    df["%-close_ema-period"] = close / ta.EMA(df, timeperiod=period) - 1
    upper, middle, lower = ta.BBANDS(close, timeperiod=period, nbdevup=2.0, nbdevdn=2.0)
    df["%-bb_width-period"] = (upper - lower) / middle
    df["%-bb_position-period"] = (close - lower) / (upper - lower)
    df["%-roc-period"] = ta.ROC(df, timeperiod=period)
    df["%-natr-period"] = ta.NATR(df, timeperiod=period)
    df["%-relative_volume-period"] = df["volume"] / df["volume"].rolling(period).mean()
    return df


def expand_basic(df: DataFrame) -> DataFrame:
    """Per-candle features, expanded over timeframes, shifted candles and correlated pairs."""
    df["%-return"] = df["close"].pct_change()
    df["%-range"] = (df["high"] - df["low"]) / df["close"]
    df["%-body"] = (df["close"] - df["open"]) / df["open"]
    df["%-log_volume_change"] = np.log1p(df["volume"]).diff()
    return df


def standard(df: DataFrame) -> DataFrame:
    """Calendar features of the base timeframe, encoded on the circle."""
    hour = df["date"].dt.hour
    weekday = df["date"].dt.dayofweek
    df["%-hour_sin"] = np.sin(2 * np.pi * hour / 24)
    df["%-hour_cos"] = np.cos(2 * np.pi * hour / 24)
    df["%-weekday_sin"] = np.sin(2 * np.pi * weekday / 7)
    df["%-weekday_cos"] = np.cos(2 * np.pi * weekday / 7)
    return df
