"""Target definitions, shared by the strategies (training labels) and the validation module
(truth recomputed from OHLCV), so both always mean the same thing."""

from __future__ import annotations

from pandas import Series


def return_label(horizon: int) -> str:
    """FreqAI label column for the forward return over `horizon` candles."""
    return f"&-ret_{horizon}"


def forward_return(close: Series, horizon: int) -> Series:
    """Simple return from this candle's close to the close `horizon` candles later.

    Rows whose future is not yet known are NaN (FreqAI drops them from training).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 candle, got {horizon}")
    return close.shift(-horizon) / close - 1
