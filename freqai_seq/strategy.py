"""Long-only strategy logic shared by the strategy files in `strategies/`.

The model predicts the forward return over `label_period_candles`. A long entry needs a usable
prediction (`do_predict == 1`) above the training labels' mean by `entry_k` standard deviations;
the exit fires when the prediction falls below the mean by `exit_k` deviations. Thresholds are
relative to FreqAI's per-model label statistics (`&-*_mean`, `&-*_std`), so they adapt to each
retrained window and pair instead of being fixed return levels.
"""

from __future__ import annotations

import logging

from freqtrade.strategy import DecimalParameter, IStrategy
from pandas import DataFrame

from freqai_seq import features
from freqai_seq.targets import forward_return, return_label

logger = logging.getLogger(__name__)


class SeqStrategyBase(IStrategy):
    """Subclass it in a file of `strategies/` (freqtrade only loads classes defined there)."""

    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = False
    process_only_new_candles = True
    use_exit_signal = True
    startup_candle_count = 40
    minimal_roi = {"0": 0.08, "720": 0.0}
    stoploss = -0.06

    entry_k = DecimalParameter(0.0, 1.5, default=0.25, decimals=2, space="buy", optimize=True)
    exit_k = DecimalParameter(-0.5, 1.5, default=0.0, decimals=2, space="sell", optimize=True)

    @property
    def horizon(self) -> int:
        return int(self.freqai_info["feature_parameters"]["label_period_candles"])

    @property
    def label(self) -> str:
        return return_label(self.horizon)

    @property
    def plot_config(self) -> dict:
        label = self.label
        return {
            "main_plot": {},
            "subplots": {
                "prediction": {
                    label: {"color": "#1f77b4"},
                    "entry_threshold": {"color": "#2ca02c"},
                    "exit_threshold": {"color": "#d62728"},
                },
                "do_predict": {"do_predict": {"color": "#7f7f7f", "type": "bar"}},
            },
        }

    def feature_engineering_expand_all(self, dataframe: DataFrame, period: int, metadata: dict,
                                       **kwargs) -> DataFrame:
        return features.expand_all(dataframe, period)

    def feature_engineering_expand_basic(self, dataframe: DataFrame, metadata: dict,
                                         **kwargs) -> DataFrame:
        return features.expand_basic(dataframe)

    def feature_engineering_standard(self, dataframe: DataFrame, metadata: dict,
                                     **kwargs) -> DataFrame:
        return features.standard(dataframe)

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        dataframe[self.label] = forward_return(dataframe["close"], self.horizon)
        return dataframe

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = self.freqai.start(dataframe, metadata, self)
        label = self.label
        mean, std = dataframe[f"{label}_mean"], dataframe[f"{label}_std"]
        dataframe["entry_threshold"] = mean + self.entry_k.value * std
        dataframe["exit_threshold"] = mean - self.exit_k.value * std
        return dataframe

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        usable = (df["do_predict"] == 1) & (df["volume"] > 0)
        df.loc[usable & (df[self.label] > df["entry_threshold"]), ["enter_long", "enter_tag"]] = (
            1, "prediction_above_threshold")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        usable = df["do_predict"] == 1
        df.loc[usable & (df[self.label] < df["exit_threshold"]), ["exit_long", "exit_tag"]] = (
            1, "prediction_below_threshold")
        return df
