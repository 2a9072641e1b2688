"""FreqAI model: stacked LSTM over a window of candles (see freqai_seq.regressor)."""

from freqai_seq.regressor import SequenceRegressor


class PyTorchLSTMRegressor(SequenceRegressor):
    """LSTM sequence regressor; every option is a `model_training_parameters` key."""

    network = "lstm"
