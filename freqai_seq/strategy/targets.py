"""Target definitions, shared by the strategies (training labels) and the validation module
(truth recomputed from OHLCV), so both always mean the same thing."""

from __future__ import annotations

import numpy as np
from pandas import DataFrame, Series


def forward_return(close: Series, horizon: int) -> Series:
    """Simple return from this candle's close to the close `horizon` candles later.

    Rows whose future is not yet known are NaN (FreqAI drops them from training).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 candle, got {horizon}")
    return close.shift(-horizon) / close - 1


def forward_volatility(close: Series, horizon: int) -> Series:
    """Standard deviation of the next `horizon` one-candle log returns (t+1 .. t+horizon)."""
    if horizon < 2:
        raise ValueError(f"volatility needs a horizon of at least 2 candles, got {horizon}")
    log_returns = np.log(close).diff()
    return log_returns.rolling(horizon).std().shift(-horizon)


def forward_log_variance(close: Series, horizon: int) -> Series:
    """Log of the sample variance of the next `horizon` one-candle log returns: trained with
    the squared error, the log-variance loss (robust to the heavy tail of realized variance).
    A flat stretch (variance 0, candles freqtrade fills into gaps) has no log: NaN, which
    FreqAI drops from training."""
    variance = forward_volatility(close, horizon) ** 2
    return np.log(variance.where(variance > 0))


def forward_regime(close: Series, horizon: int, threshold: float) -> DataFrame:
    """One-hot down / flat / up of the forward return against +-threshold (NaN when unknown)."""
    ret = forward_return(close, horizon)
    known = ret.notna()
    columns = {"down": ret < -threshold, "flat": ret.abs() <= threshold, "up": ret > threshold}
    return DataFrame({name: col.astype(float).where(known) for name, col in columns.items()})
