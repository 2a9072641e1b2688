"""The FreqAI model classes a freqtrade user loads (`--freqaimodel <name>`).

freqtrade only loads a class defined in a file of its freqaimodel path, so each class is found
through a loader file (`freqai-seq install`, freqai_seq.runs.loaders) that subclasses it
here."""

from freqai_seq.model.cross_pair.lightgbm import PooledLightGBMRegressor
from freqai_seq.model.ensemble.regressor import EnsembleRegressor
from freqai_seq.model.regressor import SequenceRegressor


class PyTorchLSTMRegressor(SequenceRegressor):
    """LSTM sequence regressor; every option is a `model_training_parameters` key."""

    network = "lstm"


class PyTorchGRURegressor(SequenceRegressor):
    """GRU sequence regressor; every option is a `model_training_parameters` key."""

    network = "gru"


class PyTorchCNNLSTMAttentionRegressor(SequenceRegressor):
    """CNN + LSTM + attention sequence regressor; keys: `freqai-seq keys --hybrid`."""

    network = "cnn_lstm_attention"


class LSTMLightGBMEnsembleRegressor(EnsembleRegressor):
    """Network + LightGBM, non-negative stacking weights fitted on a held-out tail."""


class LightGBMCrossPairRegressor(PooledLightGBMRegressor):
    """LightGBM trained once per window on the rows of every whitelisted pair."""
