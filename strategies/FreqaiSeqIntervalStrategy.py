"""Long-only FreqAI strategy on calibrated return intervals with volatility-targeted stakes;
logic lives in freqai_seq.interval_strategy."""

from freqai_seq.interval_strategy import IntervalStrategyBase


class FreqaiSeqIntervalStrategy(IntervalStrategyBase):
    """Enter when the 80 % interval's lower end clears the round-trip fee."""
