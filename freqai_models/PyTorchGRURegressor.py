"""freqtrade's loader of PyTorchGRURegressor (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.freqaimodels: this file never needs editing.
"""

from freqai_seq import freqaimodels


class PyTorchGRURegressor(freqaimodels.PyTorchGRURegressor):
    """GRU sequence regressor; every option is a `model_training_parameters` key."""
