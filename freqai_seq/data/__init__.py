"""Building the bundled real OHLCV data set."""
