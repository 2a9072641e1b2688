"""FreqAI model: stacked GRU over a window of candles (see freqai_seq.regressor)."""

from freqai_seq.regressor import SequenceRegressor


class PyTorchGRURegressor(SequenceRegressor):
    """GRU sequence regressor; every option is a `model_training_parameters` key."""

    network = "gru"
