"""FreqAI model stacking a sequence network (LSTM by default; `network` picks GRU or the hybrid)
with LightGBM; logic lives in freqai_seq.ensemble."""

from freqai_seq.ensemble.regressor import EnsembleRegressor


class LSTMLightGBMEnsembleRegressor(EnsembleRegressor):
    """Network + LightGBM, non-negative stacking weights fitted on a held-out tail."""
