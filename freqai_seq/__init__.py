"""freqai-seq: sequence models for Freqtrade's FreqAI, an offline market and a validation module."""

__version__ = "0.1.0"
