"""Offline market: a local HTTP server answering the Binance public REST calls ccxt makes."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18765
