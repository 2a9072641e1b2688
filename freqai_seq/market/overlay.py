"""The config overlay that points ccxt's binance URLs at the offline market."""

from __future__ import annotations

from urllib.parse import urlsplit

from freqai_seq.market import DEFAULT_HOST, DEFAULT_PORT


def offline_overlay(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> dict:
    """Every API base URL ccxt knows for binance, keeping its path, on the local server.

    All URLs are replaced (not only the ones the market answers), so a call the market does not
    serve fails fast with a JSON error instead of trying the internet.
    """
    import ccxt

    urls = {
        name: f"http://{host}:{port}{urlsplit(url).path}"
        for name, url in ccxt.binance().urls["api"].items()
        if isinstance(url, str)
    }
    ccxt_config = {"urls": {"api": urls}}
    return {
        "exchange": {
            "enable_ws": False,
            "ccxt_config": ccxt_config,
            "ccxt_async_config": ccxt_config,
        }
    }
