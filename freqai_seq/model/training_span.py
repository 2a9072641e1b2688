"""Which candles a training sees: FreqAI's sliding window, or an expanding one.

FreqAI hands every training the `train_period_days` before the window's end, in a backtest and in
a live bot alike. With `expanding_window_start`, the rows before that date are dropped, so each
training uses every candle since the start: windows grow until they reach `train_period_days`,
which FreqAI loads and keeps, so it stays the cap on a bot's memory and training time. Trimming
the frame FreqAI hands over, rather than changing FreqAI's time ranges, keeps FreqAI's own
backtest split, live retraining and data loading as they are.
"""

from __future__ import annotations

import logging

from freqtrade.exceptions import OperationalException
from pandas import DataFrame

from freqai_seq.model.config_schema import SequenceConfig

logger = logging.getLogger(__name__)


def training_rows(frame: DataFrame, cfg: SequenceConfig, pair: str) -> DataFrame:
    """`frame` (FreqAI's training rows of one window, with `date`) from the expanding start on;
    unchanged for a sliding window."""
    start = cfg.expanding_start()
    if start is None:
        return frame
    kept = frame.loc[frame["date"] >= start]
    if kept.empty:
        last = frame["date"].max() if len(frame) else "none"
        raise OperationalException(
            f"{pair}: expanding_window_start {cfg.expanding_window_start} is after this "
            f"training's last candle ({last}): set it before the first window ends.")
    if len(kept) < len(frame):
        logger.info("%s: expanding window from %s: %d of FreqAI's %d training candles",
                    pair, cfg.expanding_window_start, len(kept), len(frame))
    return kept
