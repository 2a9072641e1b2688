"""The strategies a freqtrade user loads (`--strategy <name>`), found through loader files like
the model classes (freqai_seq.runs.loaders)."""

from freqai_seq.strategy.base import MultiTaskStrategyBase, SeqStrategyBase
from freqai_seq.strategy.interval_strategy import IntervalStrategyBase


class FreqaiSeqStrategy(SeqStrategyBase):
    """Enter when the predicted forward return clears its adaptive threshold, exit on reversal."""


class FreqaiSeqMultiTaskStrategy(MultiTaskStrategyBase):
    """Enter when horizons agree, the up regime is likely and uncertainty is low."""


class FreqaiSeqIntervalStrategy(IntervalStrategyBase):
    """Enter when the 80 % interval's lower end clears the round-trip fee."""


class FreqaiSeqIntervalFixedStakeStrategy(IntervalStrategyBase):
    """FreqaiSeqIntervalStrategy's entries and exits, every stake as freqtrade proposes it."""

    size_by_volatility = False
