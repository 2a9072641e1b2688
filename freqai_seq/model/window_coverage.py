"""A backtest window without candles, refused before FreqAI trains anything.

FreqAI splits the backtest's timerange into training and backtest windows from the config
alone. A window the pair's candles do not reach is not skipped: an empty training window fails
its training (logged, and the window predicts nothing), an empty backtest window reaches
`predict` with no rows and ends in a scikit-learn traceback (`Found array with 0 sample(s) ...
MinMaxScaler`) after every earlier training. Under plain freqtrade this check is the only one;
`freqai-seq` refuses such a timerange before freqtrade starts (freqai_seq.data.coverage).
"""

from __future__ import annotations

from typing import Any

from freqtrade.configuration import TimeRange
from freqtrade.exceptions import OperationalException
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame


def check_windows_have_candles(dates: Any, pair: str, training: list[TimeRange],
                               backtesting: list[TimeRange]) -> None:
    """OperationalException naming the pair, the first window without a candle and the
    candles' range (`dates`: the pair's candle dates FreqAI received)."""
    first, last = (dates.min(), dates.max()) if len(dates) else (None, None)
    held = (f"the candles freqtrade loaded for it run from {first:%Y-%m-%d %H:%M} to "
            f"{last:%Y-%m-%d %H:%M}" if first is not None else "freqtrade loaded no candle of it")
    for kind, windows in (("training", training), ("backtest", backtesting)):
        for window in windows:
            if first is None or not (window.startdt <= last and first < window.stopdt):
                raise OperationalException(
                    f"FreqAI's {kind} window {window.startdt:%Y-%m-%d %H:%M} to "
                    f"{window.stopdt:%Y-%m-%d %H:%M} holds no candle of {pair} ({held}): "
                    "choose a --timerange the data covers, with freqai.train_period_days of "
                    "candles before its start.")


class CoveredWindows:
    """Mixed into the plugin's FreqAI model classes before IFreqaiModel."""

    def start_backtesting(self, dataframe: DataFrame, metadata: dict, dk: FreqaiDataKitchen,
                          strategy: Any) -> FreqaiDataKitchen:
        check_windows_have_candles(dataframe["date"], metadata["pair"], dk.training_timeranges,
                                   dk.backtesting_timeranges)
        return super().start_backtesting(  # type: ignore[misc]
            dataframe, metadata, dk, strategy)
