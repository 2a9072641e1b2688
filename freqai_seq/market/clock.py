"""What time the market says it is, and which candles exist at that time.

The historical clock shows every stored candle at its real timestamp. A replay clock (dry-run)
implements the same two methods: it shifts timestamps so a chosen candle is "now" and hides
candles whose close the wall clock has not yet passed.
"""

from __future__ import annotations

import time
from typing import Protocol

from freqai_seq.errors import FreqaiSeqError


class MarketClock(Protocol):
    def now_ms(self) -> int:
        """Server time in milliseconds, as answered by /api/v3/time."""
        ...

    def offset_ms(self) -> int:
        """Added to stored candle timestamps to obtain the timestamps served."""
        ...

    def visible_until_ms(self) -> int | None:
        """Served-time bound: only candles closing at or before it exist; None shows all."""
        ...


class HistoricalClock:
    """Every stored candle is visible at its own timestamp; the server time is the wall clock."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def offset_ms(self) -> int:
        return 0

    def visible_until_ms(self) -> int | None:
        return None


WEEK_MS = 7 * 86_400_000


class ReplayClock:
    """History replayed as a live market (dry-run): the server time is the wall clock, and the
    stored candles are shifted by whole weeks so that `start` (a stored time) is about "now".

    Whole weeks keep every candle's hour and weekday, so time features mean the same thing; the
    price is that the replay begins up to a week after `start`. A candle exists once the wall
    clock has passed its close."""

    def __init__(self, start_ms: int, wall_start_ms: int | None = None) -> None:
        wall = int(time.time() * 1000) if wall_start_ms is None else wall_start_ms
        if start_ms > wall:
            raise FreqaiSeqError("The replay start lies in the future.")
        self._offset = (wall - start_ms) // WEEK_MS * WEEK_MS

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def offset_ms(self) -> int:
        return self._offset

    def visible_until_ms(self) -> int | None:
        return self.now_ms()
