"""`freqai-seq skill`: does any model forecast the 12-hour return, measured honestly.

Every arm is a walk-forward FreqAI backtest of the workspace's pairs (default: the bundled
config, candles and pairs; weekly retraining) over the selection period or the reported period.
Arms are scored together on the rows every arm predicted (same pairs, same hourly dates; a 30m
arm's forecast made when the hourly candle closes), against the 12-hour return recomputed from
the workspace's 1h candles. Scores: mean per-pair Spearman IC (the goal's measure), pooled and
cross-sectional IC, MSE against the zero forecast, direction accuracy, each with date-block
bootstrap 95 % CIs (blocks at least one retrain window long), and the paired-bootstrap CI of each
arm's mean per-pair IC minus FreqAI's LightGBM's. A finished arm is kept (`done.json`) and a
rerun on the same inputs resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqai_seq import defaults
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.bench import training_params
from freqai_seq.evaluation.bench_settings import BENCH_MODELS, BenchSettings
from freqai_seq.evaluation.measured import evaluation_request, run_measured
from freqai_seq.evaluation.metrics import realized_forward_return
from freqai_seq.evaluation.skill_settings import (
    CURRICULUM_EPOCHS,
    EXPANDING_CAP_DAYS,
    HORIZON_HOURS,
    PAIR_EMBEDDING_DIM,
    PERIODS,
    VOLATILITY_OPTIONS,
    Arm,
)
from freqai_seq.evaluation.validation.exports import load_export
from freqai_seq.evaluation.validation.forecast_metrics import paired_differences, score_with_ci
from freqai_seq.evaluation.validation.truth import load_candles
from freqai_seq.labels import return_label
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.market.process import market_running
from freqai_seq.runs.freqtrade_log import DONE_TRAINING
from freqai_seq.runs.workspace import BUNDLED, Workspace

logger = logging.getLogger(__name__)

BACKTEST_DAYS = 7
BASELINE = "lightgbm-pair-1h-30d"
BASELINE_TITLE = {BASELINE: "LightGBM", None: "LightGBM"}
INPUTS_FILE = "inputs.json"  # what a finished arm ran on: reused only for the same


@dataclass(frozen=True)
class ArmRun:
    arm: str
    period: str
    wall_s: float
    train_s: float
    windows: int
    trades: int
    profit_pct: float
    max_drawdown_pct: float | None = None
    sharpe: float | None = None


@dataclass(frozen=True)
class Scope:
    """What every arm of one `skill` or `intervals` run shares: the period (its name labels the
    folders and files), its timerange, the workspace, its merged config and the pairs."""

    period: str
    timerange: str
    workspace: Workspace
    config: dict[str, Any]
    pairs: tuple[str, ...]


def scope(period: str, workspace: Workspace, timerange: str | None = None) -> Scope:
    """The run's scope; `timerange`: the period's dates (default: the bundled period's)."""
    if period not in PERIODS:
        raise FreqaiSeqError(f"The period {period!r} is not one of {sorted(PERIODS)}.")
    config = workspace.config()
    return Scope(period, timerange or PERIODS[period], workspace, config,
                 workspace.trading_pairs(config))


def identifier(arm: Arm, period: str, tag: str = "") -> str:
    return f"skill-{period}-{arm.name}{f'-{tag}' if tag else ''}"


def overlay(arm: Arm, scope: Scope) -> dict[str, Any]:
    """The arm's part of the config: the pairs, its training length and weekly retraining, and
    for a finer timeframe the same hours of history and target."""
    cap = EXPANDING_CAP_DAYS if arm.training == "expanding" else arm.train_days
    freqai: dict[str, Any] = {"train_period_days": cap,
                              "backtest_period_days": BACKTEST_DAYS,
                              "save_backtest_models": False}
    out: dict[str, Any] = {"exchange": {"pair_whitelist": list(scope.pairs)}, "freqai": freqai}
    features: dict[str, Any] = {}
    if arm.timeframe != "1h":  # same hours of history and target at a finer timeframe
        k = arm.candles_per_hour
        periods = scope.config["freqai"]["feature_parameters"]["indicator_periods_candles"]
        out["timeframe"] = arm.timeframe
        features.update(include_timeframes=[arm.timeframe],
                        label_period_candles=HORIZON_HOURS * k,
                        indicator_periods_candles=[p * k for p in periods])
    if arm.volatility != "vol":
        features["volatility_label"] = VOLATILITY_OPTIONS[arm.volatility][0]
    if features:
        freqai["feature_parameters"] = features
    return out


def arm_params(arm: Arm, scope: Scope) -> dict[str, Any]:
    if arm.model in BENCH_MODELS and not BENCH_MODELS[arm.model].sequence:
        return training_params(BENCH_MODELS[arm.model], BenchSettings())
    params = {k: v for k, v in scope.config["freqai"]["model_training_parameters"].items()
              if k not in ("cross_pair", "pair_embedding_dim")}  # the arm decides these
    params["window"] = int(params.get("window", 24)) * arm.candles_per_hour
    if arm.cross:
        params.update(cross_pair=True, pair_embedding_dim=PAIR_EMBEDDING_DIM)
    if VOLATILITY_OPTIONS[arm.volatility][1] != "none":
        params["volatility_baseline"] = VOLATILITY_OPTIONS[arm.volatility][1]
    if arm.training == "curriculum":
        params["curriculum_epochs"] = CURRICULUM_EPOCHS
    elif arm.training == "expanding":  # the first window is the sliding arm's
        start = pd.Timestamp(scope.timerange.split("-")[0]) - pd.Timedelta(days=arm.train_days)
        params["expanding_window_start"] = start.strftime("%Y-%m-%d")
    return params


def run_arm(arm: Arm, scope: Scope, port: int, state_file: Path, out_dir: Path,
            strategy: str = defaults.STRATEGY, run_name: str | None = None,
            models_of: str | None = None) -> ArmRun:
    """The arm's backtest, or its record when it already finished on the same inputs.
    `models_of`: the FreqAI identifier whose predictions the run reuses (another strategy on
    the same model: FreqAI loads the saved prediction files instead of training)."""
    run_name = run_name or identifier(arm, scope.period)
    ident = models_of or run_name
    run_dir = out_dir / run_name
    userdir = scope.workspace.userdir
    merged = json.dumps(scope.config, sort_keys=True, default=str).encode()
    inputs = {"configs": [str(c) for c in scope.workspace.configs],
              "config_sha256": hashlib.sha256(merged).hexdigest(),  # no secret written out
              "datadir": str(scope.workspace.datadir), "timerange": scope.timerange,
              "overlay": overlay(arm, scope), "params": arm_params(arm, scope)}
    done = run_dir / "done.json"
    if done.exists():
        _check_same_inputs(run_dir, inputs)
        return ArmRun(**json.loads(done.read_text()))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / INPUTS_FILE).write_text(json.dumps(inputs, indent=2))
    (run_dir / "overlay.json").write_text(json.dumps(inputs["overlay"]))
    (run_dir / "params.json").write_text(json.dumps(inputs["params"]))
    request = evaluation_request(scope.workspace, [run_dir / "overlay.json"], strategy,
                                 arm.freqaimodel, scope.timerange, ident, port, state_file,
                                 run_dir / "params.json")
    log_path = run_dir / "backtest.log"
    logger.info("skill: %s with %s on the %s period (%s)", arm.name, strategy, scope.period,
                scope.timerange)
    run = run_measured(arm.name, request, log_path)
    files = list((userdir / "models" / ident / "backtesting_predictions").glob("*.feather"))
    record = ArmRun(arm.name, scope.period, run.wall_s,
                    sum(float(t) for t in DONE_TRAINING.findall(log_path.read_text())),
                    len(files) // len(scope.pairs), run.trades, run.profit_pct,
                    run.drawdown_pct, run.sharpe)
    done.write_text(json.dumps(asdict(record)))
    return record


def _check_same_inputs(run_dir: Path, inputs: dict[str, Any]) -> None:
    """A finished arm is reused only for the configs, candles, period and settings it ran on
    (a folder from before the record was kept is reused as it is)."""
    recorded = run_dir / INPUTS_FILE
    if recorded.exists() and json.loads(recorded.read_text()) != json.loads(json.dumps(inputs)):
        raise FreqaiSeqError(f"{run_dir} holds a finished run on other configs, candles, "
                             "period or settings: delete it, or pass another --out and "
                             "--userdir.")


def hourly_dates(dates: pd.DatetimeIndex, timeframe: str) -> pd.DatetimeIndex:
    """The 1h row a forecast belongs to: the one whose candle closes when the forecast's candle
    closes (30m candle 10:30 -> 1h candle 10:00); forecasts between hours map off the hour."""
    return dates + pd.Timedelta(timeframe) - pd.Timedelta("1h")


def hourly_forecasts(arm: Arm, scope: Scope) -> pd.DataFrame:
    """(pair, date, forecast) on hourly rows: a 30m forecast made at the close of the 1h
    candle dated `date` (the 30m candle dated date + 30 min)."""
    run = load_export(scope.workspace.userdir / "models" / identifier(arm, scope.period),
                      list(scope.pairs))
    label = return_label(HORIZON_HOURS * arm.candles_per_hour)
    parts = []
    for pair in run.pairs:
        frame = run.predictions(pair)
        frame = frame[frame["do_predict"] == 1]
        dates = hourly_dates(pd.DatetimeIndex(frame["date"]).as_unit("ns"), arm.timeframe)
        parts.append(pd.DataFrame({"pair": pair, "date": dates,
                                   arm.name: frame[label].to_numpy(np.float64)}))
    out = pd.concat(parts, ignore_index=True)
    return out[out["date"].dt.minute == 0]


def common_rows(arms: list[Arm], scope: Scope) -> pd.DataFrame:
    """Rows every arm predicted, with the realized 12-hour return from the workspace's 1h
    candles."""
    rows = None
    for arm in arms:
        frame = hourly_forecasts(arm, scope)
        rows = frame if rows is None else rows.merge(frame, on=["pair", "date"])
    truths = []
    for pair in scope.pairs:
        truth = realized_forward_return(load_candles(scope.workspace.datadir, pair, "1h"),
                                        HORIZON_HOURS, "1h")
        truths.append(pd.DataFrame({"pair": pair, "realized": truth.to_numpy(),
                                    "date": pd.DatetimeIndex(truth.index).as_unit("ns")}))
    rows = rows.merge(pd.concat(truths), on=["pair", "date"])
    return rows[np.isfinite(rows.drop(columns=["pair", "date"]).to_numpy()).all(axis=1)]


def score(arms: list[Arm], scope: Scope, resamples: int, seed: int,
          baseline: str | None = BASELINE) -> dict[str, Any]:
    rows = common_rows(arms, scope)
    if rows.empty:
        raise FreqaiSeqError(f"No {scope.period} row is predicted by every arm.")
    forecasts = {a.name: rows[a.name].to_numpy() for a in arms}
    truth, dates = rows["realized"].to_numpy(), rows["date"].to_numpy()
    groups = pd.factorize(rows["pair"])[0]
    block = BACKTEST_DAYS * 24
    scores = score_with_ci(forecasts, truth, dates, HORIZON_HOURS, resamples, seed,
                           min_block=block, groups=groups)
    baseline = baseline if baseline in forecasts else None
    diffs = (paired_differences(forecasts, baseline, "mean_pair_ic", truth, dates,
                                HORIZON_HOURS, resamples, seed, min_block=block,
                                groups=groups) if baseline else {})
    return {"period": scope.period, "timerange": scope.timerange,
            "pairs": sorted(rows["pair"].unique()), "rows": len(rows),
            "dates": len(np.unique(dates)), "block_candles": block, "baseline": baseline,
            "arms": {a.name: {**scores[a.name].as_dict(),
                              "mse_vs_zero": scores[a.name].value["mse_vs_zero"],
                              "ic_minus_baseline": diffs.get(a.name)} for a in arms}}


def run(arms: list[Arm], period: str, out_dir: Path, resamples: int, seed: int,
        baseline: str | None = None, *, workspace: Workspace = BUNDLED,
        timerange: str | None = None) -> dict[str, Any]:
    """Run (or reuse) every arm's backtest on the workspace and score them together;
    `baseline`: the arm every other one is compared with, pairwise (default: FreqAI's LightGBM
    when it is an arm); `timerange`: the period's dates (default: the bundled period's)."""
    if baseline is not None and baseline not in {a.name for a in arms}:
        raise FreqaiSeqError(f"The baseline arm {baseline} is not among the arms.")
    baseline = baseline or BASELINE
    where = scope(period, workspace, timerange)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_file = out_dir / "market.json"
    with market_running(workspace.datadir, DEFAULT_HOST, 0, state_file,
                        out_dir / "market.log") as market:
        runs = [run_arm(a, where, market.port, state_file, out_dir) for a in arms]
    report = score(arms, where, resamples, seed, baseline)
    report["runs"] = {r.arm: asdict(r) for r in runs}
    (out_dir / f"skill-{period}.json").write_text(json.dumps(report, indent=2))
    return report


def _signed(x: float | None) -> str:
    """A score, or n/a where there is none (a CI needs at least two blocks)."""
    return "n/a" if x is None or math.isnan(x) else f"{x:+.3f}"


def _ci(entry: dict[str, float | None]) -> str:
    return f"{_signed(entry['value'])} [{_signed(entry['ci_low'])}, {_signed(entry['ci_high'])}]"


def format_report(report: dict[str, Any]) -> str:
    versus = BASELINE_TITLE.get(report["baseline"], report["baseline"])
    lines = [f"{report['period']} period {report['timerange']}: {report['rows']} rows "
             f"({report['dates']} hourly dates), {len(report['pairs'])} pairs, weekly "
             f"retraining; 95 % CIs from {report['block_candles']}-candle date blocks",
             "", f"| arm | mean per-pair IC | vs {versus} (paired) | pooled IC | "
             "cross-sectional IC | MSE / zero | direction | s per window | trades | profit % |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["arms"].items():
        run = report["runs"][name]
        diff = s["ic_minus_baseline"]
        diff_text = ("n/a" if diff is None or name == report["baseline"]
                     else f"{_signed(diff[0])} [{_signed(diff[1])}, {_signed(diff[2])}]")
        per_window = run["train_s"] / max(1, run["windows"])
        lines.append(
            f"| {name} | {_ci(s['mean_pair_ic'])} | {diff_text} | {_ci(s['spearman_ic'])} | "
            f"{_ci(s['cross_sectional_ic'])} | {s['mse_vs_zero']:.3f} | "
            f"{s['direction_accuracy']['value']:.3f} | {per_window:.1f} | {run['trades']} | "
            f"{run['profit_pct']:+.2f} |")
    return "\n".join(lines)
