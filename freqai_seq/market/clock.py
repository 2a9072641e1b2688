"""What time the market says it is, and which candles exist at that time.

The historical clock shows every stored candle at its real timestamp. A replay clock (dry-run)
implements the same two methods: it shifts timestamps so a chosen candle is "now" and hides
candles whose close the wall clock has not yet passed.
"""

from __future__ import annotations

import time
from typing import Protocol


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
