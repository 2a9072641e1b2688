"""freqtrade's loader of PyTorchCNNLSTMAttentionRegressor (written by `freqai-seq install`).

The class lives in the installed package, freqai_seq.freqaimodels: this file never needs editing.
"""

from freqai_seq import freqaimodels


class PyTorchCNNLSTMAttentionRegressor(freqaimodels.PyTorchCNNLSTMAttentionRegressor):
    """CNN + LSTM + attention sequence regressor; keys: `freqai-seq keys --hybrid`."""
