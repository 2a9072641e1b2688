"""Candles of a freqtrade data directory, held in memory and queried like Binance's klines."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from freqai_seq.data.candle_checks import available_candles, load_checked_candles
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.clock import MarketClock

logger = logging.getLogger(__name__)

KLINES_DEFAULT_LIMIT = 500
KLINES_MAX_LIMIT = 1000


@dataclass(frozen=True)
class Series:
    """One pair and timeframe; `open_ms` ascending, gaps kept as gaps."""

    interval_ms: int
    open_ms: np.ndarray
    ohlcv: np.ndarray  # shape (n, 5): open, high, low, close, volume


@dataclass(frozen=True)
class Instrument:
    symbol: str  # Binance id, e.g. BTCUSD
    base: str
    quote: str
    series: dict[str, Series]  # by Binance interval name, e.g. "1h"

    @property
    def finest(self) -> Series:
        return min(self.series.values(), key=lambda s: s.interval_ms)


def binance_symbol(pair: str) -> str:
    base, quote = pair.split("/")
    return f"{base}{quote}"


class CandleStore:
    """All OHLCV files of `datadir` (spot), queried in the clock's served time."""

    def __init__(self, instruments: dict[str, Instrument], clock: MarketClock) -> None:
        self.instruments = instruments
        self.clock = clock

    @classmethod
    def from_datadir(cls, datadir: Path, clock: MarketClock, data_format: str = "feather",
                     pairs: list[str] | None = None) -> CandleStore:
        """The candle files of `datadir` (of `pairs` only, when given), refused with every bad
        candle named when any file fails the candle checks, so a request never meets one."""
        from freqtrade.exchange import timeframe_to_msecs

        if not datadir.is_dir():
            raise FreqaiSeqError(f"Data directory {datadir} does not exist: run `freqai-seq data`.")
        available = available_candles(datadir, data_format)
        if not available:
            raise FreqaiSeqError(
                f"No {data_format} candle files in {datadir}: run `freqai-seq data` or point "
                "--datadir at a freqtrade data directory."
            )
        if pairs:
            unknown = sorted(set(pairs) - {p for p, _ in available})
            if unknown:
                raise FreqaiSeqError(f"No candle files for {unknown} in {datadir}.")
            available = {(p, tf) for p, tf in available if p in pairs}
        frames = load_checked_candles(datadir, sorted(available), data_format)
        instruments: dict[str, Instrument] = {}
        for (pair, timeframe), df in frames.items():
            open_ms = df["date"].dt.as_unit("ms").astype("int64").to_numpy()
            ohlcv = df[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
            base, quote = pair.split("/")
            symbol = binance_symbol(pair)
            inst = instruments.setdefault(symbol, Instrument(symbol, base, quote, {}))
            inst.series[timeframe] = Series(timeframe_to_msecs(timeframe), open_ms, ohlcv)
        logger.info("Market serves %d pairs from %s: %s", len(instruments), datadir,
                    ", ".join(f"{i.base}/{i.quote} {sorted(i.series)}" for i in
                              instruments.values()))
        return cls(instruments, clock)

    def _visible_count(self, series: Series) -> int:
        """Number of candles that exist at the clock's time (a prefix of the series)."""
        until = self.clock.visible_until_ms()
        if until is None:
            return len(series.open_ms)
        last_open = until - self.clock.offset_ms() - series.interval_ms
        return int(np.searchsorted(series.open_ms, last_open, side="right"))

    def klines(self, series: Series, start_ms: int | None, end_ms: int | None,
               limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Binance semantics: from startTime forward, else the `limit` newest up to endTime."""
        offset = self.clock.offset_ms()
        n = self._visible_count(series)
        times, rows = series.open_ms[:n] + offset, series.ohlcv[:n]
        forming = self._forming(series, times, rows)
        if forming is not None:
            times, rows = np.append(times, forming[0]), np.vstack([rows, forming[1]])
            n += 1
        lo = 0 if start_ms is None else int(np.searchsorted(times, start_ms, side="left"))
        hi = n if end_ms is None else int(np.searchsorted(times, end_ms, side="right"))
        if hi <= lo:
            lo = hi = 0
        if start_ms is not None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        return times[lo:hi], rows[lo:hi]

    def _forming(self, series: Series, times: np.ndarray,
                 rows: np.ndarray) -> tuple[int, np.ndarray] | None:
        """In a replay, the candle still open at "now", as Binance lists it; flat at the last
        close with no volume, so nothing of the stored future leaks (freqtrade drops it as
        incomplete anyway)."""
        now = self.clock.visible_until_ms()
        if now is None or len(times) == 0:
            return None
        open_ms = int(times[-1]) + series.interval_ms
        if not open_ms <= now < open_ms + series.interval_ms:
            return None
        close = rows[-1, 3]
        return open_ms, np.array([close, close, close, close, 0.0])

    def latest(self, inst: Instrument, window_ms: int) -> tuple[int, np.ndarray] | None:
        """Open time (served) of the newest visible finest candle and the candles of the window
        ending with it; None when no candle is visible yet."""
        series = inst.finest
        n = self._visible_count(series)
        if n == 0:
            return None
        last_open = int(series.open_ms[n - 1])
        first = int(np.searchsorted(series.open_ms, last_open + series.interval_ms - window_ms))
        return last_open + self.clock.offset_ms(), series.ohlcv[first:n]


def tick_size(price: float) -> float:
    """Price step giving about six significant digits, as Binance lists for liquid pairs."""
    return 10.0 ** (math.floor(math.log10(price)) - 5)


def step_size(price: float) -> float:
    """Quantity step worth about a cent of quote currency."""
    return 10.0 ** math.floor(math.log10(0.01 / price))
