"""The interval strategy with freqtrade's own stake: the control that shows what volatility
targeting adds; logic lives in freqai_seq.interval_strategy."""

from freqai_seq.interval_strategy import IntervalStrategyBase


class FreqaiSeqIntervalFixedStakeStrategy(IntervalStrategyBase):
    """FreqaiSeqIntervalStrategy's entries and exits, every stake as freqtrade proposes it."""

    size_by_volatility = False
