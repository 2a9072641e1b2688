"""freqtrade's loader of FreqaiSeqMultiTaskStrategy (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.strategies: this file never needs editing.
"""

from freqai_seq import strategies


class FreqaiSeqMultiTaskStrategy(strategies.FreqaiSeqMultiTaskStrategy):
    """Enter when horizons agree, the up regime is likely and uncertainty is low."""
