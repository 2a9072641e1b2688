"""Other pairs' training rows for a window, built exactly as FreqAI builds them for that pair.

Backtest: indicators over the pair's whole candle history (FreqAI populates a pair's dataframe
once per backtest, then cuts each window out of it), targets set on the rows before the window's
end, the (buffered) training range cut out. Live: the same steps FreqAI's training thread runs,
on the drawer's in-memory history. `timerange` is FreqAI's training range of the window, already
buffered by FreqAI (it buffers the range object in place).
"""

from __future__ import annotations

from typing import Any, Protocol

from freqtrade.configuration import TimeRange
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame


class PairFrames(Protocol):
    def training_frame(self, pair: str, dk: FreqaiDataKitchen,
                       timerange: TimeRange) -> DataFrame: ...


class BacktestFrames:
    def __init__(self, strategy: Any, populated: dict[str, DataFrame]) -> None:
        self.strategy = strategy
        self.populated = populated  # pair -> features over its whole history (kept per run)

    def training_frame(self, pair: str, dk: FreqaiDataKitchen,
                       timerange: TimeRange) -> DataFrame:
        if pair not in self.populated:
            candles = self.strategy.dp.get_pair_dataframe(pair, self.strategy.config["timeframe"])
            self.populated[pair] = dk.use_strategy_to_populate_indicators(
                self.strategy, prediction_dataframe=candles, pair=pair)
        full = self.populated[pair]
        base = full.loc[full["date"] < timerange.stopdt, :]
        base = self.strategy.set_freqai_targets(base.copy(), metadata={"pair": pair})
        return dk.remove_special_chars_from_feature_names(dk.slice_dataframe(timerange, base))


class LiveFrames:
    def __init__(self, strategy: Any, drawer: Any, load_timerange: TimeRange) -> None:
        self.strategy, self.drawer, self.load_timerange = strategy, drawer, load_timerange

    def training_frame(self, pair: str, dk: FreqaiDataKitchen,
                       timerange: TimeRange) -> DataFrame:
        corr, base = self.drawer.get_base_and_corr_dataframes(self.load_timerange, pair, dk)
        frame = dk.use_strategy_to_populate_indicators(
            self.strategy, corr_dataframes=corr, base_dataframes=base, pair=pair)
        return dk.slice_dataframe(timerange, frame)
