"""FreqAI model: FreqAI's LightGBMRegressor pooled over all pairs, one model per window
(see freqai_seq.cross_pair.lightgbm); the baseline of cross-pair training."""

from freqai_seq.cross_pair.lightgbm import PooledLightGBMRegressor


class LightGBMCrossPairRegressor(PooledLightGBMRegressor):
    """LightGBM trained once per window on the rows of every whitelisted pair."""
