"""What FreqAI runs inside freqtrade: model machinery, networks, the training loop,
windowing and saved models."""
