"""Checks of candle files before anything serves or trains on them.

freqtrade's loader hides bad candles: it merges duplicated timestamps (open of the first row,
close of the last) and passes NaN or zero prices and dead volume straight to the strategy, where
they surface later as an HTTP 500 of the offline market or as FreqAI's "You likely did not
download enough training data". Here every file is read as stored (duplicates kept) and each
bad candle is named by pair, timeframe and date. A problem either refuses the files (the market
does not start, the backtest does not run) or is logged as a warning; nothing is repaired.

What refuses, and why:

- duplicated timestamps: which row is the candle is unknowable;
- an open, high, low or close that is NaN, infinite, zero or negative, and a volume that is NaN,
  infinite or negative: no price series, return or tick size exists for it;
- a high below the low, or an open or close outside [low, high]: backtests fill stop-losses and
  ROI exits inside [low, high], so the trade results would rest on an impossible candle (the
  bundled Bitfinex data has none, and Binance's klines never have one);
- a run of zero-volume candles lasting `ZERO_VOLUME_RUN_LIMIT` (a day) or longer; see there;
- a gap (missing candles) lasting `MAX_CANDLE_GAP` (a day) or longer: freqtrade fills a gap with
  flat zero-volume candles when it loads the file, so FreqAI meets it as a zero-volume run.

Shorter zero-volume runs and isolated zero-volume candles are real (illiquid hours) and only
warned about. Shorter gaps are real too (exchange outages; the bundled data has a few hours at
most) and pass silently.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from freqai_seq.errors import FreqaiSeqError

logger = logging.getLogger(__name__)

COLUMNS = ["date", "open", "high", "low", "close", "volume"]
PRICES = ["open", "high", "low", "close"]
DATES_SHOWN = 3  # dates named per problem; the count says how many there are in all

# The bundled data (10 files, 2017-10 to 2019-10) has no zero-volume candle at all, and the
# longest gap, which freqtrade fills with zero-volume candles when it loads the file, is 7 candles
# (EOS/USD 1h; 10 candles of EOS/USD 30m): FreqAI trains across those. The strategies'
# relative-volume feature (volume / its rolling mean over 12 or 36 candles) is 0 / 0 = NaN on
# every candle whose whole period had no volume; FreqAI drops such rows from training and gives
# them do_predict 0, so a long run loses rows and a run reaching into the data's end (volume
# gone "from some date on") leaves the later training windows without a single row. A pair that
# does not trade for a whole day is a dead feed, not a quiet market, so runs of a day or more
# are refused wherever they lie (at the end as well as inside), shorter ones are warned about.
ZERO_VOLUME_RUN_LIMIT = pd.Timedelta(days=1)
# A gap loads as a zero-volume run, hence the same default; data with a longer outage that the
# user accepts sets this variable (hours or days: 36h, 2d) where the checks run.
MAX_CANDLE_GAP = pd.Timedelta(days=1)
MAX_CANDLE_GAP_VARIABLE = "FREQAI_SEQ_MAX_CANDLE_GAP"


@dataclass(frozen=True)
class CandleProblem:
    """One thing wrong with one candle file, with its dates and what to do about it. `refuse`:
    the files must not be used; otherwise the problem is logged as a warning."""

    pair: str
    timeframe: str
    file: str
    what: str
    refuse: bool

    def __str__(self) -> str:
        return f"{self.timeframe} candles of {self.pair} in {self.file}: {self.what}"


def available_candles(datadir: Path, data_format: str = "feather") -> set[tuple[str, str]]:
    """(pair, timeframe) of every spot candle file of `data_format` in `datadir`."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType, TradingMode

    handler = get_datahandler(datadir, data_format)
    return {(pair, timeframe) for pair, timeframe, candle_type
            in handler.ohlcv_get_available_data(datadir, TradingMode.SPOT)
            if candle_type == CandleType.SPOT}


def check_candle_files(datadir: Path, pairs: list[str], timeframes: list[str],
                       data_format: str = "feather") -> list[CandleProblem]:
    """Every problem of the files of these pairs and timeframes, refusing ones and warnings."""
    return _read_and_check(datadir, [(p, tf) for p in pairs for tf in timeframes],
                           data_format)[1]


def raise_on_bad_candles(datadir: Path, pairs: list[str], timeframes: list[str],
                         data_format: str = "feather") -> None:
    """The pre-check of a run: warnings are logged, refusing problems raise FreqaiSeqError
    listing all of them, one line each."""
    load_checked_candles(datadir, [(p, tf) for p in pairs for tf in timeframes], data_format)


def load_checked_candles(datadir: Path, files: list[tuple[str, str]],
                         data_format: str = "feather") -> dict[tuple[str, str], pd.DataFrame]:
    """The candles of these (pair, timeframe) files in date order, once they passed the checks
    (warnings logged, refusing problems raised as one FreqaiSeqError)."""
    frames, problems = _read_and_check(datadir, files, data_format)
    for problem in problems:
        if not problem.refuse:
            logger.warning("Candle warning: %s", problem)
    refused = [str(p) for p in problems if p.refuse]
    if refused:
        raise FreqaiSeqError(
            f"Bad candles in {datadir} ({len(refused)} problem(s), one per line); fix the files "
            "as each line says (`freqai-seq data` rebuilds the bundled set):\n"
            + "\n".join(refused))
    return frames


def _read_and_check(datadir: Path, files: list[tuple[str, str]], data_format: str,
                    ) -> tuple[dict[tuple[str, str], pd.DataFrame], list[CandleProblem]]:
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    handler = get_datahandler(datadir, data_format)
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    problems: list[CandleProblem] = []
    for pair, timeframe in files:
        path = handler._pair_data_filename(datadir, pair, timeframe, CandleType.SPOT)
        if not path.exists():
            problems.append(CandleProblem(pair, timeframe, path.name, (
                "no such file; run `freqai-seq data` for the bundled pairs or download it with "
                "`freqtrade download-data`"), refuse=True))
            continue
        try:
            frame = _read_raw(path, data_format)
        except Exception as exc:  # each reader raises its own types for a damaged file
            problems.append(CandleProblem(pair, timeframe, path.name, (
                f"unreadable ({type(exc).__name__}: {exc}); rebuild or download it again"),
                refuse=True))
            continue
        if frame.empty:
            problems.append(CandleProblem(pair, timeframe, path.name, (
                "the file holds no candles; rebuild or download it again"), refuse=True))
            continue
        frame = frame.sort_values("date", kind="stable", ignore_index=True)
        problems += [CandleProblem(pair, timeframe, path.name, what, refuse)
                     for what, refuse in check_candles(frame, timeframe)]
        frames[(pair, timeframe)] = frame
    return frames, problems


def _read_raw(path: Path, data_format: str) -> pd.DataFrame:
    """The file's rows as stored (order and duplicates kept), freqtrade's columns and types.
    Not freqtrade's `ohlcv_load`: it merges duplicates, and logs and swallows read errors."""
    if data_format in ("feather", "parquet"):
        raw = pd.read_feather(path) if data_format == "feather" else pd.read_parquet(path)
        frame = raw[COLUMNS]
    else:  # json and jsongz (compression from the suffix): rows of values, dates in ms
        frame = pd.read_json(path, orient="values")
        frame.columns = COLUMNS
        frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
    return frame.astype({c: "float64" for c in COLUMNS[1:]})


def check_candles(frame: pd.DataFrame, timeframe: str) -> list[tuple[str, bool]]:
    """(what is wrong, refuse) for one file's raw candles in date order, each naming dates."""
    from freqtrade.exchange import timeframe_to_msecs

    found: list[tuple[str, bool]] = []
    dates = pd.DatetimeIndex(frame["date"])
    duplicated = dates.duplicated(keep="first")
    if duplicated.any():
        found.append((f"{int(duplicated.sum())} duplicated timestamp(s) at "
                      f"{_dates(dates[duplicated])}: freqtrade would merge the rows silently; "
                      "keep one row per timestamp", True))
    prices = frame[PRICES].to_numpy()
    bad_price = ~(np.isfinite(prices) & (prices > 0))
    rows = bad_price.any(axis=1)
    if rows.any():
        first = int(np.argmax(rows))
        values = ", ".join(f"{c}={prices[first, i]}" for i, c in enumerate(PRICES)
                           if bad_price[first, i])
        found.append((f"{int(rows.sum())} candle(s) with a NaN, infinite, zero or negative "
                      f"price at {_dates(dates[rows])} (first: {values}); correct or delete "
                      "these rows (freqtrade fills a missing candle from the previous close)",
                      True))
    volume = frame["volume"].to_numpy()
    bad_volume = ~np.isfinite(volume) | (volume < 0)
    if bad_volume.any():
        found.append((f"{int(bad_volume.sum())} candle(s) with a NaN, infinite or negative "
                      f"volume at {_dates(dates[bad_volume])}; correct or delete these rows",
                      True))
    o, h, lo, c = prices.T
    inconsistent = ~rows & ((h < lo) | (o > h) | (o < lo) | (c > h) | (c < lo))
    if inconsistent.any():
        i = int(np.argmax(inconsistent))
        found.append((f"{int(inconsistent.sum())} candle(s) whose high is below the low or "
                      f"whose open or close lies outside [low, high], at "
                      f"{_dates(dates[inconsistent])} (first: open={o[i]}, high={h[i]}, "
                      f"low={lo[i]}, close={c[i]}); correct these rows", True))
    interval = pd.Timedelta(timeframe_to_msecs(timeframe), unit="ms")
    zero = volume == 0
    if zero.any():
        found.append(_zero_volume(dates, zero, interval))
    gaps = _long_gaps(dates, interval)
    if gaps:
        found.append((gaps, True))
    return found


def max_candle_gap() -> pd.Timedelta:
    """`MAX_CANDLE_GAP`, or the duration the user set in `MAX_CANDLE_GAP_VARIABLE`."""
    text = os.environ.get(MAX_CANDLE_GAP_VARIABLE, "").strip()
    if not text:
        return MAX_CANDLE_GAP
    parsed = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([hd])", text.lower())
    if parsed is None or float(parsed[1]) <= 0:
        raise FreqaiSeqError(f"{MAX_CANDLE_GAP_VARIABLE}={text!r} is not a positive number of "
                             "hours or days; give one such as 36h or 2d.")
    return pd.Timedelta(float(parsed[1]), unit=parsed[2].upper() if parsed[2] == "d" else "h")


def _long_gaps(dates: pd.DatetimeIndex, interval: pd.Timedelta) -> str | None:
    """The gaps of `max_candle_gap()` or longer, each from its first to its last missing
    candle, or None."""
    limit = max_candle_gap()
    missing = (dates[1:] - dates[:-1]) - interval
    long = np.flatnonzero(missing >= limit)
    if not len(long):
        return None
    spans = [f"{_date(dates[i] + interval)} to {_date(dates[i + 1] - interval)}"
             for i in long[:DATES_SHOWN]]
    longest = missing[long].max()
    accepting = longest // pd.Timedelta(days=1) + 1
    return (f"{len(long)} gap(s) of {_duration(limit)} or more without candles, missing "
            f"{', '.join(spans)}{', ...' if len(long) > DATES_SHOWN else ''} (the longest "
            f"{longest // interval} candles, {_duration(longest)}): freqtrade fills a gap with "
            "flat zero-volume candles, which FreqAI's trainings drop as they drop zero-volume "
            "runs; fill the gap from another source, start or end the data outside it, leave "
            f"the pair out, or accept it with {MAX_CANDLE_GAP_VARIABLE}={accepting}d")


def _zero_volume(dates: pd.DatetimeIndex, zero: np.ndarray,
                 interval: pd.Timedelta) -> tuple[str, bool]:
    """Zero-volume candles, judged by their longest run of consecutive rows, measured in time
    (a gap inside a run loads as zero-volume candles too): refused from
    `ZERO_VOLUME_RUN_LIMIT` on."""
    edges = np.diff(np.concatenate([[0], zero.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    spans = dates[ends] - dates[starts] + interval
    longest = int(np.argmax(spans))
    first, last = dates[starts[longest]], dates[ends[longest]]
    candles = spans[longest] // interval
    if spans[longest] >= ZERO_VOLUME_RUN_LIMIT:
        return (f"no volume for {candles} candles from {_date(first)} to {_date(last)}: "
                "FreqAI's relative-volume features are NaN there and its training drops those "
                "rows; cut the run out of the file (or end the data before it) or leave the "
                "pair out (zero-volume runs shorter than a day are only warned about)", True)
    return (f"{int(zero.sum())} zero-volume candle(s) at {_dates(dates[zero])}, the longest "
            f"run {candles} candle(s) from {_date(first)}: tolerated, as runs shorter than a "
            "day are", False)


def _duration(value: pd.Timedelta) -> str:
    hours = value / pd.Timedelta(hours=1)
    if hours % 24 == 0:
        return f"{int(hours // 24)} day(s)"
    return f"{hours:g} hour(s)"


def _date(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _dates(values: pd.DatetimeIndex) -> str:
    shown = ", ".join(_date(d) for d in values[:DATES_SHOWN])
    return shown + (", ..." if len(values) > DATES_SHOWN else "")
