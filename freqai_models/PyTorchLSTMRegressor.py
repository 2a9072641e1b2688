"""freqtrade's loader of PyTorchLSTMRegressor (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.freqaimodels: this file never needs editing.
"""

from freqai_seq import freqaimodels


class PyTorchLSTMRegressor(freqaimodels.PyTorchLSTMRegressor):
    """LSTM sequence regressor; every option is a `model_training_parameters` key."""
