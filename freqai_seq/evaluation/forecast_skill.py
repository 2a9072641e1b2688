"""`freqai-seq intervals`: are the calibrated intervals, the volatility forecast and the after-fee
signal of a model usable, measured like `freqai-seq skill`.

Each arm is a walk-forward backtest of the workspace's pairs (default: the bundled config,
candles and pairs) with `FreqaiSeqIntervalStrategy` (its model trains `&-ret_12`, the
5/10/90/95th percentiles and `&-vol_12`) over the selection or the reported period. The same
model's predictions are then traded by the fixed-stake control and by `FreqaiSeqStrategy` (FreqAI
reuses the saved prediction files of the identifier, so all three trade one model). Scores, on
the rows every forecast covers, with block-bootstrap CIs (blocks one retrain window long): the
intervals' coverage and Winkler score against the trailing-quantile and EWMA baselines, the
volatility forecast's QLIKE against trailing, EWMA and HAR-RV, the plain rule's after-fee return,
and each strategy's trades, profit, drawdown and Sharpe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from freqai_seq import defaults
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.skill import BACKTEST_DAYS, Scope, identifier, run_arm, scope
from freqai_seq.evaluation.skill_settings import HORIZON_HOURS, Arm
from freqai_seq.evaluation.validation.costs import cost_rows, evaluate_costs, run_fee
from freqai_seq.evaluation.validation.exports import load_export
from freqai_seq.evaluation.validation.intervals import (
    evaluate_intervals,
    interval_labels,
    interval_rows,
)
from freqai_seq.evaluation.validation.truth import load_candles
from freqai_seq.evaluation.validation.volatility import evaluate_volatility, volatility_rows
from freqai_seq.labels import return_label, volatility_labels
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.market.process import market_running
from freqai_seq.runs.workspace import BUNDLED, Workspace

STRATEGY = defaults.INTERVAL_STRATEGY
CONTROLS = {"FreqaiSeqIntervalFixedStakeStrategy": "fixed", "FreqaiSeqStrategy": "threshold"}
TAG = "intervals"
# Candidates compared on the selection period; the reported period runs the one chosen there.
SELECTION_ARMS = ("lstm-cross-1h-180d", "hybrid-cross-1h-180d", "lstm-cross-1h-180d-logvar",
                  "lstm-cross-1h-180d-logvar_har")
# The earlier choice (the MSE of the volatility) and the volatility option the selection period
# chose by the goal's measure, QLIKE (docs: Results, Intervals).
REPORT_ARMS = ("lstm-cross-1h-180d", "lstm-cross-1h-180d-logvar")


def _window_starts(run: Any, pair: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(ts, unit="s", tz="UTC").as_unit("ns")
            for ts in sorted(run.windows.get(pair, {}))]


def score_arm(arm: Arm, scope: Scope, resamples: int, seed: int) -> dict[str, Any]:
    run = load_export(scope.workspace.userdir / "models" / identifier(arm, scope.period, TAG),
                      list(scope.pairs))
    frames = {p: run.predictions(p) for p in run.pairs}
    frames = {p: f[~f["date"].duplicated(keep="last")] for p, f in frames.items()}
    candles = {p: load_candles(scope.workspace.datadir, p, "1h") for p in frames}
    h, block = HORIZON_HOURS, BACKTEST_DAYS * 24
    columns = sorted({c for f in frames.values() for c in f.columns})
    found = interval_labels(columns).get(h)
    if not found:
        raise FreqaiSeqError(f"{arm.name}: no interval labels of the {h}-candle return.")
    intervals = [{"lower": lo, "upper": hi, "coverage": cov, **evaluate_intervals(
        {p: interval_rows(frames[p], candles[p], h, lo, hi, cov, "1h") for p in frames},
        cov, h, resamples, seed, block)} for lo, hi, cov in found]
    train_days = (run.run_params.get("freqai") or {}).get("train_period_days") or arm.train_days
    (label,) = [name for horizon, name in volatility_labels(columns) if horizon == h]
    volatility = evaluate_volatility(
        {p: volatility_rows(frames[p], candles[p], h, label, "1h", _window_starts(run, p),
                            train_days) for p in frames},
        h, resamples, seed, block)
    fee, source = run_fee(run.run_params, scope.config)
    costs = evaluate_costs({p: cost_rows(frames[p], candles[p], h, return_label(h), "1h", fee)
                            for p in frames}, h, fee, source, resamples, seed, block)
    return {"intervals": intervals, "volatility": volatility, "costs": costs}


def run(arms: list[Arm], period: str, out_dir: Path, resamples: int, seed: int, *,
        workspace: Workspace = BUNDLED, timerange: str | None = None) -> dict[str, Any]:
    """Run (or reuse) every arm's three backtests on the workspace and score the model's
    forecasts; `timerange`: the period's dates (default: the bundled period's)."""
    where = scope(period, workspace, timerange)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_file = out_dir / "market.json"
    strategies: dict[str, dict[str, Any]] = {}
    with market_running(workspace.datadir, DEFAULT_HOST, 0, state_file,
                        out_dir / "market.log") as market:
        for arm in arms:
            ident = identifier(arm, period, TAG)
            runs = {STRATEGY: run_arm(arm, where, market.port, state_file, out_dir, STRATEGY,
                                      ident)}
            for control, short in CONTROLS.items():
                runs[control] = run_arm(arm, where, market.port, state_file, out_dir, control,
                                        f"{ident}-{short}", models_of=ident)
            strategies[arm.name] = {s: vars(r) for s, r in runs.items()}
    report = {"period": period, "timerange": where.timerange, "pairs": list(where.pairs),
              "strategies": strategies,
              "arms": {a.name: score_arm(a, where, resamples, seed) for a in arms}}
    (out_dir / f"intervals-{period}.json").write_text(json.dumps(report, indent=2))
    return report


def _cell(cell: dict[str, Any], digits: int = 3, signed: bool = False) -> str:
    def f(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:+.{digits}f}" if signed else \
            f"{x:.{digits}f}"
    return f"{f(cell['value'])} [{f(cell['ci_low'])}, {f(cell['ci_high'])}]"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['period']} period {report['timerange']}, {len(report['pairs'])} pairs, "
             "weekly retraining, "
             f"{HORIZON_HOURS}-hour return; 95 % CIs from {BACKTEST_DAYS * 24}-candle date "
             "blocks; paired differences: model minus baseline (below 0 is better)", "",
             "| arm | interval | rows | coverage | Winkler model | trailing | EWMA | "
             "model - trailing | model - EWMA | coverage low / mid / high vol |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, scores in report["arms"].items():
        for item in scores["intervals"]:
            p = item["pooled"]
            terciles = " / ".join(f"{c['model']['coverage']['value']:.3f}"
                                  for c in item["per_volatility_tercile"].values())
            lines.append(
                f"| {name} | {item['coverage']:.0%} | {p['rows']} | "
                f"{_cell(p['model']['coverage'])} | {_cell(p['model']['winkler'], 4)} | "
                f"{p['trailing']['winkler']['value']:.4f} | {p['ewma']['winkler']['value']:.4f} "
                f"| {_cell(p['model-trailing']['winkler'], 4, True)} | "
                f"{_cell(p['model-ewma']['winkler'], 4, True)} | {terciles} |")
    lines += ["", "| arm | rows | QLIKE model | trailing | EWMA | HAR | model - EWMA | "
                  "model - HAR | IC model | IC HAR |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, scores in report["arms"].items():
        p = scores["volatility"]["pooled"]
        gain = {b: p[f"model-{b}"]["qlike_improvement"] for b in ("ewma", "har")}
        lines.append(
            f"| {name} | {p['rows']} | {_cell(p['model']['qlike'])} | "
            f"{p['trailing']['qlike']['value']:.3f} | {p['ewma']['qlike']['value']:.3f} | "
            f"{p['har']['qlike']['value']:.3f} | {_cell(p['model-ewma']['qlike'], 3, True)} "
            f"({gain['ewma']:+.0%}) | {_cell(p['model-har']['qlike'], 3, True)} "
            f"({gain['har']:+.0%}) | {_cell(p['model']['spearman_ic'])} | "
            f"{p['har']['spearman_ic']['value']:.3f} |")
    lines += ["", "| arm | strategy | trades | profit % | max drawdown % | Sharpe | "
                  "plain rule after fees, % (model / persistence / zero) |",
              "|---|---|---|---|---|---|---|"]
    for name, runs in report["strategies"].items():
        costs = report["arms"][name]["costs"]
        rule = " / ".join(f"{100 * costs[n]['total_return']:+.1f}"
                          for n in ("model", "persistence", "zero"))
        for strategy, r in runs.items():
            sharpe = "n/a" if r["sharpe"] is None else f"{r['sharpe']:.2f}"
            lines.append(f"| {name} | {strategy} | {r['trades']} | {r['profit_pct']:+.2f} | "
                         f"{r['max_drawdown_pct']:.2f} | {sharpe} | {rule} |")
    return "\n".join(lines)
