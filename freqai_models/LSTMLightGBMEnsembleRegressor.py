"""freqtrade's loader of LSTMLightGBMEnsembleRegressor (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.freqaimodels: this file never needs editing.
"""

from freqai_seq import freqaimodels


class LSTMLightGBMEnsembleRegressor(freqaimodels.LSTMLightGBMEnsembleRegressor):
    """Network + LightGBM, non-negative stacking weights fitted on a held-out tail."""
