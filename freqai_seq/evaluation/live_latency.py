"""Live inference latency per new candle per pair, timed on the models a walk-forward backtest
saved (`save_backtest_models: true`), with the run's own FreqAI model class.

The model class is resolved by freqtrade from the run's config and its data drawer reads the
drawer file the backtest left (`pair_dictionary.json`: per pair the newest sub-train model, as a
restarted live bot finds it). The first call per pair loads that model, its metadata and its
pipelines from disk and keeps them in the drawer's memory, as the running bot holds them after a
training. Then, for each of the last `LIVE_CANDLES` candles of the backtest in turn (the
dataframe cut after it; every one predicted by that newest model, also where the backtest's last
window is shorter and an earlier model served it), the timer covers exactly the per-candle model
step of FreqAI's live loop (`IFreqaiModel.start_live` and `build_strategy_return_arrays`):

- `FreqaiDataDrawer.load_data(pair, dk)` with a live data kitchen (from memory), and
- `predict(df.iloc[-conv_width:], dk, first=False)`, `df` ending at that candle: feature
  selection, the feature pipeline's transform (scaling, outlier checks), the forward pass(es)
  (all MC-dropout passes when the model makes them), the label pipeline's inverse transform and
  `do_predict`.

Not timed: the strategy's feature engineering (`use_strategy_to_populate_indicators` over the
whole dataframe, the same for every model of a strategy; computed here once per strategy over all
candles), candle download and history update, the bookkeeping of the returned arrays, training,
and the data kitchen's construction. A restarted bot also re-reads the metadata and both
pipelines from disk on every candle until its first retrain: not included either. A few untimed
warm-up calls per pair come first (in live, the first call predicts on the whole dataframe).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs.run_config import load_freqtrade_config

logger = logging.getLogger(__name__)

LIVE_CANDLES = 200
WARMUP_CALLS = 3
# FreqAI's built-in predict looks up a "di" pipeline step that only exists with DI on, and
# datasieve logs a warning for every call: kept out of the benchmark's output.
QUIET_LOGGERS = ("datasieve.pipeline",)


@dataclass
class LiveLatency:
    """Per-candle latency of one model, pooled over its pairs' candles."""

    median_ms: float
    p95_ms: float
    calls: int
    pairs: int
    rows_per_call: int  # conv_width: what FreqAI hands predict() per new candle
    last_row_usable: float  # share of calls whose newest row got a prediction with do_predict 1
    per_pair_median_ms: dict[str, float] = field(default_factory=dict)


class StrategyFrames:
    """The strategy's populated dataframe per pair, built once per strategy and feature settings
    and shared by every model that uses them."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self._builders: dict[str, Any] = {}
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}

    def frame(self, config: dict[str, Any], pair: str) -> pd.DataFrame:
        from freqai_seq.evaluation.validation.model_probe import StrategyFeatures

        key = json.dumps([config["strategy"], config["timeframe"],
                          config["freqai"]["feature_parameters"]], sort_keys=True)
        if (key, pair) not in self._frames:
            if key not in self._builders:
                self._builders[key] = StrategyFeatures(config, self.datadir)
            self._frames[(key, pair)] = self._builders[key].for_pair(pair)
        return self._frames[(key, pair)]


def load_run_config(run_config: Path, userdir: Path) -> dict[str, Any]:
    """The run's merged config as freqtrade reads it, with the run's user-data folder."""
    if not run_config.exists():
        raise FreqaiSeqError(f"Run config {run_config} not found: run the backtest first.")
    return load_freqtrade_config([run_config], userdir)


def measure(run_config: Path, userdir: Path, pairs: tuple[str, ...] | list[str],
            frames: StrategyFrames, candles: int = LIVE_CANDLES) -> LiveLatency:
    """Latency of the live per-candle model step of the run's model (see the module docstring)."""
    from freqtrade.resolvers.freqaimodel_resolver import FreqaiModelResolver

    config = load_run_config(run_config, userdir)
    threads = torch.get_num_threads()  # a model may set its own: never carry it to the next
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        freqai = FreqaiModelResolver.load_freqaimodel(config)
        freqai.live = True
        seconds: dict[str, list[float]] = {}
        usable = 0
        for pair in pairs:
            seconds[pair], pair_usable = _time_pair(freqai, config, pair,
                                                    frames.frame(config, pair), candles)
            usable += pair_usable
    finally:
        torch.set_num_threads(threads)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    pooled = np.array([s for values in seconds.values() for s in values]) * 1000
    return LiveLatency(float(np.median(pooled)), float(np.percentile(pooled, 95)), len(pooled),
                       len(pairs), int(freqai.CONV_WIDTH), usable / len(pooled),
                       {p: float(np.median(v)) * 1000 for p, v in seconds.items()})


def _time_pair(freqai: Any, config: dict[str, Any], pair: str, frame: pd.DataFrame,
               candles: int) -> tuple[list[float], int]:
    """Seconds per candle over the last `candles` candles of the backtest, and how many of those
    calls gave the newest row a usable prediction."""
    from freqtrade.configuration import TimeRange
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

    model_filename, _ = freqai.dd.get_pair_dict_info(pair)
    if not model_filename:
        raise FreqaiSeqError(f"No saved model for {pair} in {freqai.full_path}: the backtest "
                             "must run with freqai.save_backtest_models true.")
    stop = TimeRange.parse_timerange(config["timerange"]).stopdt
    dates = pd.DatetimeIndex(frame["date"])
    ends = np.flatnonzero(dates < stop)[-candles:]
    width = int(freqai.CONV_WIDTH)
    if len(ends) < candles or ends[0] < width - 1 + WARMUP_CALLS:
        raise FreqaiSeqError(f"{pair}: the candle data holds fewer than {candles} candles "
                             f"before {stop} (after {width - 1 + WARMUP_CALLS} of history) "
                             "to time the live step on.")
    # The bot's first call: the model, its metadata and pipelines from disk (not timed).
    dk = FreqaiDataKitchen(config, live=True, pair=pair)
    if freqai.dd.load_data(pair, dk) is None:
        raise FreqaiSeqError(f"Cannot load the saved model of {pair} ({model_filename} in "
                             f"{freqai.full_path}); see the log above.")
    _keep_in_memory(freqai.dd, pair, dk)
    label = dk.label_list[0]
    warmup = np.arange(ends[0] - WARMUP_CALLS, ends[0])
    seconds: list[float] = []
    usable = 0
    for i, end in enumerate(np.concatenate([warmup, ends])):
        live_df = frame.iloc[:end + 1]
        dk = FreqaiDataKitchen(config, live=True, pair=pair)
        start = time.perf_counter()
        freqai.model = freqai.dd.load_data(pair, dk)
        pred_df, do_predict = freqai.predict(live_df.iloc[-width:], dk, first=False)
        elapsed = time.perf_counter() - start
        if len(pred_df) != width:
            raise FreqaiSeqError(f"{type(freqai).__name__}.predict returned {len(pred_df)} rows "
                                 f"for the {width} it was given.")
        if i >= WARMUP_CALLS:
            seconds.append(elapsed)
            usable += int(do_predict[-1] == 1 and np.isfinite(pred_df[label].iloc[-1]))
    return seconds, usable


def _keep_in_memory(dd: Any, pair: str, dk: Any) -> None:
    """What FreqaiDataDrawer.save_data keeps in memory after a live training (the model itself
    is kept by load_data)."""
    from freqtrade.freqai.data_drawer import FEATURE_PIPELINE, LABEL_PIPELINE, METADATA

    dd.meta_data_dictionary[pair] = {METADATA: dk.data, FEATURE_PIPELINE: dk.feature_pipeline,
                                     LABEL_PIPELINE: dk.label_pipeline}
