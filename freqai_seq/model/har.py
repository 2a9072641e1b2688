"""HAR-RV components (Corsi 2009): the mean squared one-candle log return over the last day,
week and month of candles. Defined once, for the HAR-RV baseline `validate` scores volatility
forecasts against and for the features the `volatility_baseline: "har"` option of the sequence
models starts from (freqai_seq.model.networks.volatility_baseline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas import DataFrame

HAR_DAYS = (1, 7, 30)  # day, week, month
HAR_FEATURES = tuple(f"%-har_log_rv_{d}d" for d in HAR_DAYS)


def har_components(returns: pd.Series, candles_per_day: int) -> DataFrame:
    """Mean squared log return over the last 1, 7 and 30 days of candles, at each row (known at
    its close). A gap leaves NaN returns: each component is the mean of the returns present
    (at least half), or a month of candles after every gap would have no value."""
    squared = returns**2
    return DataFrame({f"rv_{d}d": squared.rolling(max(1, d * candles_per_day),
                                                  min_periods=max(1, d * candles_per_day // 2))
                      .mean() for d in HAR_DAYS})


def add_har_features(df: DataFrame, candles_per_day: int) -> DataFrame:
    """The log of each component as a feature (`HAR_FEATURES`); a flat stretch (component 0)
    is NaN, which FreqAI drops from training and marks `do_predict` 0 in prediction."""
    components = har_components(np.log(df["close"]).diff(), candles_per_day)
    for name, column in zip(HAR_FEATURES, components.columns, strict=True):
        values = components[column]
        df[name] = np.log(values.where(values > 0))
    return df
