"""The walk-forward objective of `freqai-seq tune`.

What FreqAI's backtest does, for a few pairs and windows, in this process: the strategy's
features are built once per pair through FreqAI's data kitchen (`StrategyFeatures`), the windows
are FreqAI's own split of the timerange (`FreqaiDataKitchen.split_timerange`), the labels of each
training are set by the strategy on the candles before that training's end (as FreqAI does, so
no label looks into the window it predicts), and the model is the FreqAI class freqtrade would
load, trained and asked to predict through its own `train` / `predict`.

Each window's usable forecasts (`do_predict == 1`) of the return label are scored against the
return realized `h` candles later, recomputed from the candles by timestamp, beside the naive
persistence forecast (the last `h`-candle return) on the same rows.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.metrics import score
from freqai_seq.evaluation.validation.model_probe import StrategyFeatures
from freqai_seq.evaluation.validation.truth import load_candles, truth_and_baselines
from freqai_seq.labels import return_labels

logger = logging.getLogger(__name__)

METRICS = {"ic": "maximize", "mse_ratio": "minimize"}


@dataclass(frozen=True)
class WindowData:
    """One pair's training rows and prediction rows of one walk-forward window."""

    pair: str
    step: int
    train_stop_ts: int
    train: pd.DataFrame  # features and labels, labels set on the candles before the stop only
    predict: pd.DataFrame  # the candles of the predicted window


@dataclass(frozen=True)
class WalkForwardScore:
    """Pooled out-of-sample scores of the forecasts so far, and of persistence on the same rows."""

    rows: int
    ic: float
    direction: float
    mse_ratio: float  # MSE of the forecast / MSE of always forecasting 0
    persistence_ic: float
    persistence_mse_ratio: float

    def value(self, metric: str) -> float:
        return self.ic if metric == "ic" else self.mse_ratio


def pooled_score(rows: pd.DataFrame) -> WalkForwardScore:
    """Scores on the rows with a usable forecast, a known outcome and a persistence value."""
    ok = rows[["forecast", "realized", "persistence"]].notna().all(axis=1).to_numpy()
    realized = rows["realized"].to_numpy()[ok]
    model = score(rows["forecast"].to_numpy()[ok], realized)
    persistence = score(rows["persistence"].to_numpy()[ok], realized)
    return WalkForwardScore(model.rows, model.spearman_ic, model.direction_accuracy,
                            model.mse_vs_zero, persistence.spearman_ic, persistence.mse_vs_zero)


def load_regressor(config: dict[str, Any], params: dict[str, Any]) -> Any:
    """The FreqAI model class freqtrade would load (`freqaimodel` from `freqaimodel_path`),
    configured with `params` as its model_training_parameters."""
    from freqtrade.resolvers.freqaimodel_resolver import FreqaiModelResolver

    config = copy.deepcopy(config)
    config["freqai"]["model_training_parameters"] = dict(params)
    regressor = FreqaiModelResolver.load_freqaimodel(config)
    regressor.live = False
    return regressor


class WalkForward:
    """The windows of one tuning objective, built once per worker; `evaluate` trains and scores
    one parameter set on all of them."""

    def __init__(self, config: dict[str, Any], pairs: tuple[str, ...], datadir: Path) -> None:
        from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

        self.config = config
        timeframe = config["timeframe"]
        horizon = int(config["freqai"]["feature_parameters"]["label_period_candles"])
        features = StrategyFeatures(config, datadir)
        strategy = features.strategy
        kitchen = FreqaiDataKitchen(config, live=False)
        self.windows = list(zip(kitchen.training_timeranges, kitchen.backtesting_timeranges,
                                strict=True))
        # What a cross-pair model builds the other pairs' rows from, as in FreqAI's backtest.
        self.strategy = strategy
        self.populated: dict[str, pd.DataFrame] = {}
        self.train_ranges = [kitchen.buffer_timerange(tr.copy()) for tr, _ in self.windows]
        self.data: list[WindowData] = []
        self.truth: dict[str, pd.DataFrame] = {}
        for pair in pairs:
            frame = features.for_pair(pair)
            frame = frame.drop(columns=[c for c in frame.columns if c.startswith("&")])
            self.populated[pair] = frame
            for step, tr_train in enumerate(self.train_ranges):
                tr_predict = self.windows[step][1]
                before = frame.loc[frame["date"] < tr_train.stopdt].copy()
                labelled = strategy.set_freqai_targets(before, metadata={"pair": pair})
                train = kitchen.slice_dataframe(tr_train, labelled).reset_index(drop=True)
                predict = kitchen.slice_dataframe(tr_predict, frame).reset_index(drop=True)
                if train.empty or predict.empty:
                    part, span = (("training", tr_train) if train.empty
                                  else ("prediction", tr_predict))
                    raise FreqaiSeqError(f"{pair}: no candles in the {part} window "
                                         f"{span.timerange_str}: choose an --end inside the "
                                         "data.")
                self.data.append(WindowData(pair, step, int(tr_train.stopts), train, predict))
            candles = load_candles(datadir, pair, timeframe)
            series = truth_and_baselines(candles, horizon, timeframe)
            truth = pd.DataFrame({"realized": series["realized"],
                                  "persistence": series["persistence"]})
            truth.index = pd.DatetimeIndex(truth.index).as_unit("ns")
            self.truth[pair] = truth
        labels = [c for c in self.data[0].train.columns if c.startswith("&")]
        by_horizon = return_labels(labels)
        if horizon not in by_horizon:
            raise FreqaiSeqError(
                f"tune scores the forecast of `&-ret_{horizon}` (label_period_candles "
                f"{horizon}); the strategy's labels are {labels}.")
        self.label = by_horizon[horizon]
        self.horizon = horizon

    def evaluate(self, params: dict[str, Any],
                 report: Callable[[WalkForwardScore, int], None] | None = None
                 ) -> tuple[WalkForwardScore, list[float]]:
        """Train and predict every pair in every window; after each window `report` gets the
        pooled score so far (it may raise to stop, e.g. optuna.TrialPruned). Returns the final
        pooled score and the IC of each window alone."""
        from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
        from freqtrade.freqai.utils import get_tb_logger

        regressor = load_regressor(self.config, params)
        # Read by cross-pair models only (FreqAI's backtest sets them in start()); the first
        # pair of a window trains the shared network on every tuned pair, the others reuse it.
        regressor.strategy, regressor.populated_frames = self.strategy, self.populated
        parts: list[pd.DataFrame] = []
        window_ic: list[float] = []
        for step in range(len(self.windows)):
            regressor.training_timerange = self.train_ranges[step]
            window_parts = []
            for piece in (d for d in self.data if d.step == step):
                dk = FreqaiDataKitchen(regressor.config, live=False, pair=piece.pair)
                dk.set_paths(piece.pair, piece.train_stop_ts)
                dk.find_features(piece.train)
                dk.find_labels(piece.train)
                regressor.tb_logger = get_tb_logger("pytorch", dk.data_path, False)
                regressor.model = regressor.train(piece.train, piece.pair, dk)
                pred, do_predict = regressor.predict(piece.predict, dk)
                forecast = pred[self.label].to_numpy(dtype=float)
                forecast = np.where(np.asarray(do_predict) == 1, forecast, np.nan)
                dates = pd.DatetimeIndex(piece.predict["date"]).as_unit("ns")
                truth = self.truth[piece.pair].reindex(dates)
                window_parts.append(pd.DataFrame({
                    "forecast": forecast, "realized": truth["realized"].to_numpy(),
                    "persistence": truth["persistence"].to_numpy()}))
            window_ic.append(pooled_score(pd.concat(window_parts)).ic)
            parts.extend(window_parts)
            so_far = pooled_score(pd.concat(parts))
            if report is not None:
                report(so_far, step)
        return pooled_score(pd.concat(parts)), window_ic
