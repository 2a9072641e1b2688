"""`freqai-seq validate`: forecast metrics per horizon, model analysis, reports."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqai_seq import paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.metrics import realized_forward_return
from freqai_seq.evaluation.validation import probe_metrics as pm
from freqai_seq.evaluation.validation.costs import DEFAULT_FEE, cost_rows, evaluate_costs, run_fee
from freqai_seq.evaluation.validation.exports import ExportedRun, load_export
from freqai_seq.evaluation.validation.horizons import (
    DEFAULT_HORIZONS,
    aligned_rows,
    evaluate_horizon,
    plan_horizons,
    smoothness,
)
from freqai_seq.evaluation.validation.intervals import (
    evaluate_intervals,
    interval_labels,
    interval_rows,
)
from freqai_seq.evaluation.validation.model_probe import StrategyFeatures, not_applicable, probe_run
from freqai_seq.evaluation.validation.truth import load_candles
from freqai_seq.evaluation.validation.volatility import evaluate_volatility, volatility_rows
from freqai_seq.labels import return_labels, volatility_labels
from freqai_seq.runs.run_config import (
    check_label_period,
    load_freqtrade_config,
    load_user_configs,
)

logger = logging.getLogger(__name__)

MIN_MATCHED = 0.95  # share of predicted dates that must exist in the OHLCV data


@dataclass(frozen=True)
class ValidateOptions:
    models: Path
    out: Path
    datadir: Path = paths.DATA_DIR
    configs: tuple[Path, ...] = ()  # merged in order, as freqtrade's -c; none: default_config
    strategy: str | None = None
    pairs: tuple[str, ...] = ()
    horizons: tuple[int, ...] = DEFAULT_HORIZONS
    resamples: int = 1000
    seed: int = 0
    analyse_models: bool = True

    def __post_init__(self) -> None:
        if self.resamples < 10:
            raise FreqaiSeqError(f"--bootstrap must be at least 10 resamples, got "
                                 f"{self.resamples}.")
        if not self.horizons or min(self.horizons) < 1:
            raise FreqaiSeqError(f"--horizons must be positive candle counts, got "
                                 f"{list(self.horizons)}.")


@dataclass
class Validation:
    """Everything the reports are made of; `problems` lists every part that did not run fully."""

    options: ValidateOptions
    run: ExportedRun
    timeframe: str
    primary_horizon: int | None
    forecasts: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, dict[int, dict[str, pd.DataFrame]]] = field(default_factory=dict)
    intervals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    volatility: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    costs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fee: tuple[float, str] = (DEFAULT_FEE, "default")
    model_analysis: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    config_paths: tuple[Path, ...] = ()


def default_config(models: Path) -> Path:
    """The merged config `freqai-seq backtest` wrote for this identifier, else config.json."""
    run_config = models.parent.parent / "runs" / f"{models.name}.json"
    return run_config if run_config.exists() else paths.CONFIG


def _load_config(paths_: tuple[Path, ...], strategy: str | None,
                 datadir: Path) -> dict[str, Any]:
    from freqtrade.enums import RunMode

    config = load_freqtrade_config(list(paths_))
    if strategy:
        config["strategy"] = strategy
    config["datadir"] = datadir
    config["runmode"] = RunMode.OTHER
    return config


def _forecast_source(v: Validation, source: str, frames: dict[str, pd.DataFrame]) -> None:
    """Scores of one prediction source (backtest or live) for every horizon."""
    columns = sorted({c for f in frames.values() for c in f.columns})
    candles: dict[str, pd.DataFrame] = {}
    for pair, frame in frames.items():
        try:
            data = load_candles(v.options.datadir, pair, v.timeframe)
        except FreqaiSeqError as err:
            v.problems.append(f"{source} {pair}: {err} Pair not scored.")
            continue
        predicted = pd.DatetimeIndex(frame.loc[frame["do_predict"] == 1, "date"]).as_unit("ns")
        known = pd.DatetimeIndex(data["date"]).as_unit("ns")
        matched = predicted.isin(known).mean() if len(predicted) else 0.0
        if matched < MIN_MATCHED:
            v.problems.append(f"{source} {pair}: only {matched:.0%} of the predicted candles "
                              f"exist in {v.options.datadir}: the data does not match the "
                              "export. Pair not scored.")
            continue
        candles[pair] = data
    horizons, rows = [], {}
    for plan in plan_horizons(v.options.horizons, columns):
        by_pair = {}
        if plan.label:
            by_pair = {p: aligned_rows(frames[p], candles[p], plan.horizon, plan.label,
                                       v.timeframe)
                       for p in candles if plan.label in frames[p]}
        horizons.append(evaluate_horizon(plan, by_pair, v.options.resamples, v.options.seed,
                                         retrain_window_candles(v)))
        rows[plan.horizon] = by_pair
    v.intervals[source] = [
        {"horizon": h, "lower": lower, "upper": upper, "coverage": coverage,
         **evaluate_intervals(
             {p: interval_rows(frames[p], candles[p], h, lower, upper, coverage, v.timeframe)
              for p in candles if lower in frames[p]},
             coverage, h, v.options.resamples, v.options.seed, retrain_window_candles(v))}
        for h, found in sorted(interval_labels(columns).items())
        for lower, upper, coverage in found]
    train_days = (v.run.run_params.get("freqai") or {}).get("train_period_days") or 30
    v.volatility[source] = [
        {"horizon": h, "label": label, **evaluate_volatility(
            {p: volatility_rows(frames[p], candles[p], h, label, v.timeframe,
                                window_starts(v, p, frames[p]), train_days)
             for p in candles if label in frames[p]},
            h, v.options.resamples, v.options.seed, retrain_window_candles(v))}
        for h, label in volatility_labels(columns)]
    fee, fee_source = v.fee
    v.costs[source] = [
        {"horizon": h, "label": label, **evaluate_costs(
            {p: cost_rows(frames[p], candles[p], h, label, v.timeframe, fee)
             for p in candles if label in frames[p]},
            h, fee, fee_source, v.options.resamples, v.options.seed, retrain_window_candles(v))}
        for h, label in sorted(return_labels(columns).items())]
    labels = return_labels(columns)
    primary = labels.get(v.primary_horizon) or next(iter(labels.values()), None)
    smooth = {}
    if primary:
        smooth = {p: smoothness(f.loc[f["do_predict"] == 1, primary].to_numpy(np.float64))
                  for p, f in frames.items() if primary in f}
    v.forecasts[source] = {
        "pairs_scored": sorted(candles), "horizons": horizons, "primary_label": primary,
        "prediction_smoothness": {**smooth, "pooled": float(np.nanmean(list(smooth.values())))
                                  if smooth else None}}
    v.rows[source] = rows


def walk_forward_returns(v: Validation, pair: str) -> pd.DataFrame:
    """Per candle: do_predict, each horizon's forecast and realized return, and the return of a
    long position held for the next candle whenever the primary forecast is above 0."""
    frame = v.run.predictions(pair).drop_duplicates("date", keep="last")
    labels = return_labels(list(frame.columns))
    candles = load_candles(v.options.datadir, pair, v.timeframe)
    out = pd.DataFrame({"date": pd.DatetimeIndex(frame["date"]).as_unit("ns"),
                        "do_predict": frame["do_predict"].to_numpy()})
    for h, label in sorted(labels.items()):
        truth = realized_forward_return(candles, h, v.timeframe)
        truth.index = pd.DatetimeIndex(truth.index).as_unit("ns")
        out[f"prediction_{h}"] = frame[label].to_numpy()
        out[f"realized_{h}"] = truth.reindex(out["date"]).to_numpy()
    primary = v.forecasts["backtest"]["primary_label"]
    if primary is None:  # no return forecast to act on
        return out
    next_return = realized_forward_return(candles, 1, v.timeframe)
    next_return.index = pd.DatetimeIndex(next_return.index).as_unit("ns")
    out["position"] = ((frame[primary].to_numpy() > 0) & (out["do_predict"] == 1)).astype(int)
    out["next_candle_return"] = next_return.reindex(out["date"]).to_numpy()
    out["strategy_return"] = out["position"] * out["next_candle_return"]
    h = next(h for h, label in labels.items() if label == primary)
    costs = cost_rows(frame, candles, h, primary, v.timeframe, v.fee[0])
    return out.merge(costs.drop(columns="next_candle_return"), on="date", how="left")


def window_starts(v: Validation, pair: str, frame: pd.DataFrame) -> list[pd.Timestamp]:
    """Where each walk-forward model's predictions start (the backtest's prediction files; live
    predictions: one window from the first date)."""
    starts = sorted(v.run.windows.get(pair, {}))
    if starts:
        return [pd.Timestamp(ts, unit="s", tz="UTC").as_unit("ns") for ts in starts]
    return [pd.Timestamp(frame["date"].min()).as_unit("ns")]


def retrain_window_candles(v: Validation) -> int:
    """Candles one model predicts in the walk-forward (`backtest_period_days`), 0 if unknown."""
    from freqtrade.exchange import timeframe_to_seconds

    days = (v.run.run_params.get("freqai") or {}).get("backtest_period_days")
    if not isinstance(days, int | float) or days <= 0:
        return 0
    return math.ceil(days * 86400 / timeframe_to_seconds(v.timeframe))


def _timerange_bounds(config: dict[str, Any] | None) -> tuple[int | None, int | None]:
    from freqtrade.configuration import TimeRange

    text = (config or {}).get("timerange")
    if not text:
        return None, None
    timerange = TimeRange.parse_timerange(text)
    return timerange.startts or None, timerange.stopts or None


def _feature_parameters(settings: dict[str, Any], source: str) -> dict[str, Any]:
    """The FreqAI feature parameters of a config or run_params.json, refused when their
    horizon is no candle count (truth, baselines and the strategy's labels shift by it)."""
    params = settings.get("freqai", {}).get("feature_parameters", {})
    check_label_period(params, source)
    return params


def validate(options: ValidateOptions) -> Validation:
    run = load_export(options.models, list(options.pairs) or None)
    config_paths = options.configs or (default_config(options.models),)
    named = " + ".join(str(path) for path in config_paths)
    config: dict[str, Any] | None = None
    missing = [str(path) for path in config_paths if not path.exists()]
    config_error = f"config {', '.join(missing)} not found"
    if not missing:
        load_user_configs(list(config_paths))  # a file that is not JSON is bad input
        try:
            config = _load_config(config_paths, options.strategy, options.datadir)
        except Exception as exc:  # freqtrade raises several types for a bad config
            config_error = f"config {named}: {exc}"
    if config is None:
        logger.warning("%s", config_error)
    timeframe = run.run_params.get("timeframe") or (config or {}).get("timeframe")
    if not timeframe:
        raise FreqaiSeqError(f"No timeframe: {options.models}/run_params.json is missing and the "
                             f"config {named} could not be read.")
    config_params = _feature_parameters(config or {}, named)
    feature_params = (_feature_parameters(run.run_params, str(options.models / "run_params.json"))
                      if run.run_params.get("freqai") else config_params)
    v = Validation(options, run, timeframe, feature_params.get("label_period_candles"),
                   problems=list(run.problems), config_paths=config_paths,
                   fee=run_fee(run.run_params, config))
    dropped = run.keep_windows(*_timerange_bounds(config))
    if dropped:
        logger.warning("Ignored %d prediction files outside the run's timerange %s (left by "
                       "earlier runs with this identifier)", dropped, config["timerange"])
    if run.windows:
        _forecast_source(v, "backtest", {p: _unique_dates(v, p, run.predictions(p))
                                         for p in run.windows if run.windows[p]})
    if run.live:
        _forecast_source(v, "live", run.live)
    if options.analyse_models and run.windows:
        reason = not_applicable(run, (config or {}).get("freqaimodel"))
        if reason:
            v.model_analysis = {"applicable": False, "reason": reason}
            logger.info("Model analysis not applicable: %s", reason)
        elif not run.sub_trains:
            v.problems.append("model analysis: no sub-train folders with metadata")
        elif config is None:
            v.problems.append(f"model analysis needs the run's config: {config_error}")
        else:
            features = None
            try:
                if config.get("strategy"):
                    features = StrategyFeatures(config, options.datadir)
            except Exception as exc:  # strategy not found, or it fails to load
                v.problems.append(f"model analysis: cannot load strategy "
                                  f"{config.get('strategy')}: {exc}")
            else:
                v.model_analysis = probe_run(run, features, v.problems)
    return v


def _unique_dates(v: Validation, pair: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One prediction per candle: overlapping windows would count a candle twice."""
    duplicated = frame["date"].duplicated(keep="last")
    if duplicated.any():
        v.problems.append(f"backtest {pair}: {int(duplicated.sum())} candles predicted by "
                          "overlapping windows; the later window's prediction is kept")
    return frame[~duplicated].reset_index(drop=True)


def consistency_summary(v: Validation) -> dict[str, Any]:
    pooled = v.model_analysis.get("pooled", {})
    smooth = v.forecasts.get("backtest", {}).get("prediction_smoothness", {}).get("pooled")
    parts = {"prediction_smoothness": smooth,
             "representation_stability": pooled.get("representation_stability"),
             "attention_consistency": pooled.get("attention", {}).get("consistency")}
    return {**parts, "overall": pm.overall_consistency(list(parts.values()))}
