"""Long-only FreqAI strategy on a forward-return prediction; logic lives in freqai_seq.strategy."""

from freqai_seq.strategy import SeqStrategyBase


class FreqaiSeqStrategy(SeqStrategyBase):
    """Enter when the predicted forward return clears its adaptive threshold, exit on reversal."""
