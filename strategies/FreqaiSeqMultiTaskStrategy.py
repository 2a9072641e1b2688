"""Long-only FreqAI strategy on a multi-task model (returns at two horizons, volatility, regime,
uncertainty); logic lives in freqai_seq.strategy. Use it with PyTorchCNNLSTMAttentionRegressor
(or any sequence regressor of this package)."""

from freqai_seq.strategy import MultiTaskStrategyBase


class FreqaiSeqMultiTaskStrategy(MultiTaskStrategyBase):
    """Enter when horizons agree, the up regime is likely and uncertainty is low."""
