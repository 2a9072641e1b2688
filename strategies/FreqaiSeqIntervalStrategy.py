"""freqtrade's loader of FreqaiSeqIntervalStrategy (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.strategies: this file never needs editing.
"""

from freqai_seq import strategies


class FreqaiSeqIntervalStrategy(strategies.FreqaiSeqIntervalStrategy):
    """Enter when the 80 % interval's lower end clears the round-trip fee."""
