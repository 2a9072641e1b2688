"""Offline market: a local HTTP server answering the Binance public REST calls ccxt makes."""

from freqai_seq.defaults import MARKET_HOST as DEFAULT_HOST
from freqai_seq.defaults import MARKET_PORT as DEFAULT_PORT

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT"]
