"""freqtrade's loader of FreqaiSeqIntervalFixedStakeStrategy (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.strategies: this file never needs editing.
"""

from freqai_seq import strategies


class FreqaiSeqIntervalFixedStakeStrategy(strategies.FreqaiSeqIntervalFixedStakeStrategy):
    """FreqaiSeqIntervalStrategy's entries and exits, every stake as freqtrade proposes it."""
