"""The defaults every layer shares, each written once: the model and strategy a command runs when
none is named, the backtest period, the ports of the offline market and the dry-run bot's REST
API, and where the dry-run's replayed history starts.

A core module: it imports nothing of the package, so the command line, the runs and the
measurements can all name the same value.
"""

from __future__ import annotations

from datetime import UTC, datetime

#: FreqAI model class of `backtest`, `dryrun start`, `plot`, `soak`, `tune`, ...
MODEL = "PyTorchLSTMRegressor"
#: strategy of the runs above
STRATEGY = "FreqaiSeqStrategy"
#: strategy whose model predicts calibrated intervals (`intervals`)
INTERVAL_STRATEGY = "FreqaiSeqIntervalStrategy"

#: `backtest`'s period (and `bench`'s): three months the bundled candles cover
TIMERANGE = "20190601-20190901"

#: the offline market's address
MARKET_HOST = "127.0.0.1"
MARKET_PORT = 18765

#: the dry-run bot's REST API port on MARKET_HOST (soak and live-cycle bots sit beside it)
API_PORT = 18780

#: the replayed history of `dryrun start` begins here (UTC)
REPLAY_START = "2019-08-01"
REPLAY_START_MS = int(datetime.fromisoformat(REPLAY_START).replace(tzinfo=UTC).timestamp() * 1000)

#: torch / OpenMP threads of each training in a spread walk-forward (`--workers`, `--cluster`)
TRAINING_THREADS = 1
