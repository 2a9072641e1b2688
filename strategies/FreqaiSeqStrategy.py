"""freqtrade's loader of FreqaiSeqStrategy (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.strategies: this file never needs editing.
"""

from freqai_seq import strategies


class FreqaiSeqStrategy(strategies.FreqaiSeqStrategy):
    """Enter when the predicted forward return clears its adaptive threshold, exit on reversal."""
