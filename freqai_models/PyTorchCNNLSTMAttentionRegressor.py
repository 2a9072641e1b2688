"""FreqAI model: Conv1d blocks, LSTM, multi-head self-attention, multi-horizon pooling
(see freqai_seq.networks.hybrid and freqai_seq.regressor)."""

from freqai_seq.regressor import SequenceRegressor


class PyTorchCNNLSTMAttentionRegressor(SequenceRegressor):
    """CNN + LSTM + attention sequence regressor; keys: `freqai-seq keys --hybrid`."""

    network = "cnn_lstm_attention"
