"""Default locations: user data relative to the directory the user runs commands from (as
freqtrade's own defaults), the plugin's own files from the installed package."""

from pathlib import Path

CONFIG = Path("config.json")  # freqtrade's default `-c`
USER_DATA = Path("user_data")
DATA_DIR = USER_DATA / "data" / "binance"
CACHE_DIR = USER_DATA / "cache"
MARKET_STATE_FILE = USER_DATA / "market" / "market.json"

# The example configs and training parameters the package ships (the repository's top-level
# config*.json and params/ link here).
EXAMPLES = Path(__file__).resolve().parent / "examples"
PARAMS = EXAMPLES / "params"
