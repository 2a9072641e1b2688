"""Whether the candle files cover a FreqAI backtest's timerange, checked before anything trains.

FreqAI backtests walk forward over [start - train_period_days, stop]: the first model trains on
the `train_period_days` before the timerange's start, each predicts the next
`backtest_period_days`, the last window ends at the stop. Candles that end before a window
begins leave FreqAI predicting on an empty frame (a `MinMaxScaler` traceback after the
trainings); candles that begin after `start - train_period_days` make freqtrade move the
backtest's start without more than a warning (`runner.start_moved`). Both are refused here, with
the data's range named, before a market or freqtrade starts. The strategy's own startup candles
are not known before freqtrade loads it, so the moved start stays checked after a backtest too.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

from freqai_seq.errors import FreqaiSeqError

# A start moved by at most this much is not a moved start (shared with runner.start_moved).
START_TOLERANCE = timedelta(days=1)


def last_window_start(start: datetime, stop: datetime, backtest_days: float) -> datetime:
    """The start of FreqAI's last backtest window (freqtrade's `split_timerange`: windows of
    `backtest_days` from the start, the last one cut at the stop)."""
    period = timedelta(days=backtest_days)
    return start + (math.ceil((stop - start) / period) - 1) * period


def check_timerange_covered(datadir: Path, pairs: list[str], timeframe: str | None,
                            timerange: str, freqai: dict, data_format: str = "feather") -> None:
    """FreqaiSeqError naming the pair, its data's range and what to change when the candles of a
    traded pair do not reach the first training window's start or the last backtest window.
    Without a timeframe in the config (the strategy's, known once freqtrade loads it) only the
    model classes check."""
    from freqtrade.configuration import TimeRange
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    parsed = TimeRange.parse_timerange(timerange)
    if timeframe is None or parsed.startdt is None or parsed.stopdt is None:
        return  # FreqAI itself refuses an open timerange, naming it
    start, stop = parsed.startdt, parsed.stopdt
    train_days = freqai.get("train_period_days") or 0
    needed = start - timedelta(days=train_days)
    last_window = last_window_start(start, stop, freqai.get("backtest_period_days") or 1)
    handler = get_datahandler(datadir, data_format)
    for pair in pairs:
        first, last, rows = handler.ohlcv_data_min_max(pair, timeframe, CandleType.SPOT)
        held = (f"the {timeframe} candles of {pair} in {datadir} run from {first:%Y-%m-%d %H:%M} "
                f"to {last:%Y-%m-%d %H:%M}")
        if not rows:
            continue  # the candle checks name a missing or empty file
        if first - needed > START_TOLERANCE:
            raise FreqaiSeqError(
                f"--timerange {timerange} is not covered: {held}, and FreqAI trains its first "
                f"model on the {train_days} days (freqai.train_period_days) before the start, "
                f"from {needed:%Y-%m-%d}; start the timerange on "
                f"{first + timedelta(days=train_days):%Y%m%d} or later, or shorten "
                "train_period_days.")
        if last < last_window:
            raise FreqaiSeqError(
                f"--timerange {timerange} is not covered: {held}, so FreqAI's backtest window "
                f"from {last_window:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} would hold no "
                f"candle; end the timerange on {last:%Y%m%d} or earlier"
                + (" and start it before that." if start >= last else "."))
