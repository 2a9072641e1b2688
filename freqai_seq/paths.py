"""Default locations, relative to the directory the user runs commands from (the repo root)."""

from pathlib import Path

USER_DATA = Path("user_data")
DATA_DIR = USER_DATA / "data" / "binance"
CACHE_DIR = USER_DATA / "cache"
MARKET_STATE_FILE = USER_DATA / "market" / "market.json"
