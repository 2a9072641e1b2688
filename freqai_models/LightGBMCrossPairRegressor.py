"""freqtrade's loader of LightGBMCrossPairRegressor (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.freqaimodels: this file never needs editing.
"""

from freqai_seq import freqaimodels


class LightGBMCrossPairRegressor(freqaimodels.LightGBMCrossPairRegressor):
    """LightGBM trained once per window on the rows of every whitelisted pair."""
