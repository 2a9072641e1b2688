# freqai-seq: every target installs what it needs first and skips work that is already done.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_STAMP := user_data/data/binance/.freqai-seq-data.json
MODEL ?= PyTorchLSTMRegressor
PARAMS ?=
# An overlay on config.json, e.g. OVERLAY=config.per-pair.json (the per-pair, 30-day defaults
# the figures of some README sections were printed with).
OVERLAY ?=
CONFIGS = $(if $(OVERLAY),-c config.json -c $(OVERLAY))
STRATEGY ?= FreqaiSeqIntervalStrategy
# The interval strategy enters too rarely for freqtrade's look-ahead analysis (at least 10 trades)
# in the analysis's month with its tiny network: the analysis runs the threshold strategy.
LOOKAHEAD_STRATEGY ?= FreqaiSeqStrategy
FAST ?=
TIMERANGE ?= 20190601-20190901
PYTEST_ARGS ?=
EPOCHS ?= 100
HYPEROPT_TIMERANGE ?= 20190301-20190601

.PHONY: setup data backtest lookahead hyperopt plot dryrun stop test lint market-start market-stop docs clean

setup: $(STAMP)

# torch first, pinned to the CPU build on this machine's disk; a plain `torch` would pull CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

data: $(STAMP)
	$(BIN)/freqai-seq data

backtest: data
	$(BIN)/freqai-seq backtest $(CONFIGS) --model $(MODEL) --strategy $(STRATEGY) --timerange $(TIMERANGE) \
		$(if $(PARAMS),--training-params $(PARAMS)) --validate

# freqtrade hyperopt of the entry/exit thresholds, roi and stoploss on the three months before the
# backtest's; FreqAI trains once under the identifier hyperopt-<model>-<strategy>.
hyperopt: data
	$(BIN)/freqai-seq hyperopt $(CONFIGS) --model $(MODEL) --strategy $(STRATEGY) \
		--timerange $(HYPEROPT_TIMERANGE) --epochs $(EPOCHS) $(if $(PARAMS),--training-params $(PARAMS))

# plot-dataframe (predictions, thresholds, do_predict) and plot-profit of the backtest; the
# backtest reuses its saved predictions, so only freqtrade's simulation runs again.
plot: data
	$(BIN)/freqai-seq backtest $(CONFIGS) --model $(MODEL) --strategy $(STRATEGY) --timerange $(TIMERANGE) \
		$(if $(PARAMS),--training-params $(PARAMS))
	$(BIN)/freqai-seq plot --model $(MODEL) --strategy $(STRATEGY)

# freqtrade lookahead-analysis under a throw-away identifier (about a minute; exits 1 on bias).
lookahead: data
	$(BIN)/freqai-seq lookahead $(CONFIGS) --model $(MODEL) --strategy $(LOOKAHEAD_STRATEGY) \
		$(if $(PARAMS),--training-params $(PARAMS))

# FAST=1: the 30m candles replayed as 1m candles, so a prediction arrives every minute.
dryrun: data
	$(BIN)/freqai-seq dryrun start $(CONFIGS) --model $(MODEL) --strategy $(STRATEGY) $(if $(FAST),--fast)

stop: $(STAMP)
	$(BIN)/freqai-seq dryrun stop

# The tune tests start a real PostgreSQL server: its OS package is installed first when missing.
test: data
	bash tests/services/install-postgresql.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

market-start: data
	$(BIN)/freqai-seq market start

market-stop: $(STAMP)
	$(BIN)/freqai-seq market stop

# The documentation site (mkdocs, docs/) on http://127.0.0.1:8000, rebuilt on every change;
# `$(BIN)/mkdocs build --strict` writes it to site/ (tests/test_docs.py builds it too).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs serve

clean:
	rm -rf $(VENV) user_data/models user_data/backtest_results user_data/runs user_data/market
