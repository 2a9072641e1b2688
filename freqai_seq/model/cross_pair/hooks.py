"""What cross-pair training needs from FreqAI that FreqAI does not hand to `train()`: the
strategy (to build the other pairs' rows) and, in live mode, the window's time ranges."""

from __future__ import annotations

from typing import Any

from freqtrade.configuration import TimeRange
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame


class CrossPairHooks:
    """Mixed into a FreqAI model class before IFreqaiModel."""

    populated_frames: dict[str, DataFrame]  # backtest: each pair's features, once per run

    def start(self, dataframe: DataFrame, metadata: dict, strategy: Any) -> DataFrame:
        self.strategy = strategy
        if not hasattr(self, "populated_frames"):
            self.populated_frames = {}
        return super().start(dataframe, metadata, strategy)  # type: ignore[misc]

    def extract_data_and_train_model(self, new_trained_timerange: TimeRange, pair: str,
                                     strategy: Any, dk: FreqaiDataKitchen,
                                     data_load_timerange: TimeRange) -> None:
        # Live: what a backtest sets in start_backtesting (FreqAI buffers the object in place).
        self.training_timerange = new_trained_timerange
        self.data_load_timerange = data_load_timerange
        super().extract_data_and_train_model(  # type: ignore[misc]
            new_trained_timerange, pair, strategy, dk, data_load_timerange)
