"""The validation's outputs: versioned JSON, self-contained HTML with plotly figures, a console
summary and one walk-forward returns CSV per pair."""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from freqai_seq.evaluation.validation.forecast_figures import (
    after_fee_figure,
    coverage_figures,
    volatility_figures,
)
from freqai_seq.evaluation.validation.forecast_metrics import METRICS
from freqai_seq.evaluation.validation.horizons import BASELINES
from freqai_seq.evaluation.validation.model_probe import DEPENDENCY_LAGS, RERUN_TOLERANCE
from freqai_seq.evaluation.validation.truth import ROLLING_LOOKBACK
from freqai_seq.evaluation.validation.validate import (
    Validation,
    consistency_summary,
    walk_forward_returns,
)

SCHEMA = "freqai-seq/validation"
SCHEMA_VERSION = 1

FORMULAS = {
    "truth": "realized_h(t) = close[t+h] / close[t] - 1, looked up by timestamp in the OHLCV "
             "files (a gap gives no score); only rows with do_predict == 1",
    "baselines": "zero: 0; persistence: close[t] / close[t-h] - 1; rolling_mean: h x the mean "
                 f"one-candle return of the last {ROLLING_LOOKBACK} candles",
    "mse_vs_zero": "MSE of the forecast / MSE of always forecasting 0 (below 1: better "
                   "than no forecast)",
    "direction_accuracy": "share of rows where sign(forecast) == sign(realized), over rows "
                          "where neither is 0 (a zero forecast takes no side)",
    "spearman_ic": "Spearman rank correlation of forecast and realized return, all rows "
                   "pooled",
    "mean_pair_ic": "the mean over pairs of each pair's own Spearman IC (time series)",
    "cross_sectional_ic": "the mean over dates with at least 3 pairs of the Spearman "
                          "correlation across pairs of forecast and realized return",
    "confidence_intervals": "95 % percentile intervals of a moving-block bootstrap over candle "
                            "dates: blocks of max(h, ceil(D^(1/3)), W) consecutive dates (W "
                            "the candles of one retrain window), every pair's row of a drawn "
                            "date with it",
    "attention_entropy": "H = -sum_j a_ij log a_ij per attention row, averaged over windows, "
                         "heads and query steps; normalised: H / log(W)",
    "attention_consistency": "1 - JS(p, q) / log 2 between the newest step's attention of "
                             "windows ending at t and t+1, on the W-1 candles they share",
    "temporal_focus": "mean lag sum_k k a_k of the newest step's attention (lag 0 = the "
                      "predicted candle) and its share on the most recent quarter of the window",
    "prediction_smoothness": "1 - Var(diff(forecast)) / (2 Var(forecast)), the lag-1 "
                             "autocorrelation of the forecast series",
    "representation_stability": "mean cosine similarity of the summary vectors feeding the "
                                "heads, for windows ending one candle apart",
    "overall_consistency": "mean of smoothness, representation stability and attention "
                           "consistency (those available), each clipped to [0, 1]",
    "long_term_dependency": "saliency |d forecast / d input| summed over features, averaged "
                            "over windows and normalised over lags; share_beyond_lag[L] = "
                            "saliency share of inputs at least L candles back (null when L is "
                            "outside the window)",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def _clean(value: Any) -> Any:
    """NaN is not JSON: it becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def to_json(v: Validation) -> dict[str, Any]:
    o = v.options
    analysis = v.model_analysis.get("pooled", {})
    return _clean({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "identifier": v.run.identifier, "models_dir": str(o.models), "datadir": str(o.datadir),
        "config": " + ".join(str(path) for path in v.config_paths), "timeframe": v.timeframe,
        "pairs": v.run.pairs,
        "settings": {"horizons": list(o.horizons), "bootstrap_resamples": o.resamples,
                     "seed": o.seed, "rolling_lookback": ROLLING_LOOKBACK,
                     "rerun_tolerance_label_std": RERUN_TOLERANCE,
                     "dependency_lags": list(DEPENDENCY_LAGS)},
        "forecasts": v.forecasts,
        "intervals": v.intervals,
        "volatility": v.volatility,
        "costs": v.costs,
        "model_analysis": v.model_analysis,
        "attention": analysis.get("attention") or {
            "applicable": False,
            "reason": ("no analysed model exposes attention" if analysis
                       else v.model_analysis.get("reason", "no model was analysed"))},
        "temporal_consistency": consistency_summary(v),
        "long_term_dependency": {
            "profile_by_lag": analysis.get("dependency_profile_by_lag"),
            "share_beyond_lag": analysis.get("dependency_share_beyond_lag")},
        "problems": v.problems,
        "formulas": FORMULAS,
    })


def _fmt(cell: dict[str, float | None] | None, digits: int = 4) -> str:
    if not cell or cell.get("value") is None:
        return "n/a"
    text = f"{cell['value']:.{digits}f}"
    if cell.get("ci_low") is not None:
        text += f" [{cell['ci_low']:.{digits}f}, {cell['ci_high']:.{digits}f}]"
    return text


def not_applicable_note(report: dict[str, Any]) -> str | None:
    """The model analysis of a run whose models it does not apply to: a note, not a problem."""
    analysis = report["model_analysis"]
    if analysis.get("applicable", True):
        return None
    return f"Model analysis: not applicable: {analysis['reason']}"


def console_summary(report: dict[str, Any], out: Path) -> str:
    lines = [f"Validation of {report['identifier']} ({report['timeframe']}, pairs "
             f"{', '.join(report['pairs'])}); truth recomputed from {report['datadir']}"]
    for source, block in report["forecasts"].items():
        lines += ["", f"{source} forecasts, pooled over {len(block['pairs_scored'])} pairs "
                      "(95 % block-bootstrap CI):",
                  f"{'h':>3} {'rows':>6}  {'RMSE model':<29} {'RMSE zero':>9} "
                  f"{'persist.':>9} {'roll.mean':>9}  {'Spearman IC':<26} {'direction':<24}"]
        for h in block["horizons"]:
            if not h["scored"]:
                lines.append(f"{h['horizon']:>3} {'-':>6}  {h['source']}")
                continue
            p = h["pooled"]
            lines.append(
                f"{h['horizon']:>3} {p['rows']:>6}  {_fmt(p['model']['rmse']):<29} "
                + " ".join(f"{p[b]['rmse']['value']:>9.4f}" for b in BASELINES)
                + f"  {_fmt(p['model']['spearman_ic'], 3):<26} "
                f"{_fmt(p['model']['direction_accuracy'], 3):<24}")
            lines.append(f"{'':>11}mean per-pair IC {_fmt(p['model']['mean_pair_ic'], 3)}, "
                         f"cross-sectional IC {_fmt(p['model']['cross_sectional_ic'], 3)}")
            lines.append(f"{'':>11}source: {h['source']}; bootstrap blocks of "
                         f"{p['block_length']} candles")
    lines += interval_lines(report)
    lines += volatility_lines(report)
    lines += cost_lines(report)
    attention = report["attention"]
    consistency = report["temporal_consistency"]
    dependency = report["long_term_dependency"]["share_beyond_lag"] or {}
    analysis = report["model_analysis"].get("pooled") or {}
    lines.append("")
    note = not_applicable_note(report)
    if note:
        lines.append(note)
    if analysis:
        lines.append(f"Models re-run: {analysis['models']} ({', '.join(analysis['networks'])}), "
                     f"{analysis['windows']} windows, largest deviation from the export "
                     f"{analysis['rerun_max_deviation_in_label_std']:.2e} label std")
    if attention.get("applicable", True):
        lines.append(f"Attention: entropy {_number(attention['entropy'])} "
                     f"({_number(attention['entropy_normalised'])} of log W), consistency "
                     f"{_number(attention['consistency'])}, mean lag "
                     f"{_number(attention['mean_lag'])}, "
                     f"recent-quarter share {_number(attention['recent_quarter_share'])}")
    else:
        lines.append(f"Attention: not applicable ({attention['reason']})")

    lines.append("Temporal consistency: " + ", ".join(f"{k} {_number(x)}"
                                                      for k, x in consistency.items()))
    if dependency:
        lines.append("Long-term dependency (saliency share of inputs at least L back): "
                     + ", ".join(f"L={k}: {_number(x)}" for k, x in dependency.items()))
    for problem in report["problems"]:
        lines.append(f"WARNING: {problem}")
    lines += ["", f"Report: {out / 'validation.html'}", f"JSON: {out / 'validation.json'}",
              f"Returns CSV: {out / 'returns'}/"]
    return "\n".join(lines)


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def interval_lines(report: dict[str, Any]) -> list[str]:
    """Per interval: coverage, width and Winkler score of the model and its baselines, and the
    model's Winkler score minus each baseline's (below 0: the model's intervals are better)."""
    lines = []
    for source, intervals in report.get("intervals", {}).items():
        for item in intervals:
            head = (f"{source} {item['coverage']:.0%} interval of the {item['horizon']}-candle "
                    f"return ({item['lower']}, {item['upper']})")
            if not item["scored"]:
                lines += ["", f"{head}: no scored rows"]
                continue
            p = item["pooled"]
            lines += ["", f"{head}, {p['rows']} rows, 95 % CI:",
                      f"{'':>3}{'forecast':<11} {'coverage':<24} {'mean width':<29} "
                      f"{'Winkler score':<29}"]
            for name in (n for n in p if n != "rows" and "-" not in n):
                cell = p[name]
                lines.append(f"{'':>3}{name:<11} {_fmt(cell['coverage'], 3):<24} "
                             f"{_fmt(cell['width']):<29} {_fmt(cell['winkler']):<29}")
            diffs = [f"{n.split('-', 1)[1]} {_fmt(p[n]['winkler'])}" for n in p if "-" in n]
            lines.append(f"{'':>3}Winkler model minus: " + "; ".join(diffs))
            terciles = item.get("per_volatility_tercile", {})
            lines.append(f"{'':>3}coverage by ex-ante volatility tercile (model / EWMA): "
                         + ", ".join(f"{t} {_fmt(c['model']['coverage'], 3).split(' ')[0]} / "
                                     f"{_fmt(c['ewma']['coverage'], 3).split(' ')[0]}"
                                     for t, c in terciles.items()))
    return lines


def volatility_lines(report: dict[str, Any]) -> list[str]:
    """Per volatility label: QLIKE, MSE and IC of the model and the baselines, and the model's
    QLIKE minus each baseline's (below 0: better) with its improvement in %."""
    lines = []
    for source, items in report.get("volatility", {}).items():
        for item in items:
            head = f"{source} volatility forecast {item['label']}"
            if not item["scored"]:
                lines += ["", f"{head}: no scored rows"]
                continue
            p = item["pooled"]
            lines += ["", f"{head} (per-candle variance), {p['rows']} rows (excluded: "
                          f"{p['excluded_flat']} flat, {p['excluded_not_finite']} without a "
                          f"realized value or a baseline, {p['excluded_nonpositive_forecast']} "
                          "non-positive forecasts), 95 % CI:",
                      f"{'':>3}{'forecast':<9} {'QLIKE':<29} {'Spearman IC':<24}"]
            for name in ("model", "trailing", "ewma", "har"):
                lines.append(f"{'':>3}{name:<9} {_fmt(p[name]['qlike']):<29} "
                             f"{_fmt(p[name]['spearman_ic'], 3):<24}")
            lines.append(f"{'':>3}QLIKE model minus: " + "; ".join(
                f"{n} {_fmt(p[f'model-{n}']['qlike'])} ({_pct(p[f'model-{n}'])})"
                for n in ("trailing", "ewma", "har")))
    return lines


def cost_lines(report: dict[str, Any]) -> list[str]:
    """Per horizon: the plain rule's after-fee return of the model and the baselines."""
    lines = []
    for source, items in report.get("costs", {}).items():
        for item in items:
            if not item["scored"]:
                continue
            lines += ["", f"{source} after fees, h={item['horizon']}: long over the next candle "
                          f"when the forecast clears the round-trip fee "
                          f"{item['round_trip_fee']:.2%} (fee from {item['fee_source']}), "
                          f"{item['candles']} candles:",
                      f"{'':>3}{'forecast':<13} {'return per candle':<32} {'total':>8} "
                      f"{'turnover':>9} {'in market':>9}"]
            for name in ("model", *BASELINES):
                cell = item[name]
                lines.append(f"{'':>3}{name:<13} {_fmt(cell['return_per_candle'], 6):<32} "
                             f"{cell['total_return']:>8.2%} {cell['turnover']:>9.3f} "
                             f"{cell['time_in_market']:>9.2%}")
    return lines


def _pct(cell: dict[str, Any]) -> str:
    gain = cell.get("qlike_improvement")
    return "n/a" if gain is None else f"{gain:+.0%} better" if gain >= 0 else \
        f"{-gain:.0%} worse"


def _above(cell: dict[str, float | None]) -> float:
    return 0.0 if cell["ci_high"] is None else cell["ci_high"] - cell["value"]


def _below(cell: dict[str, float | None]) -> float:
    return 0.0 if cell["ci_low"] is None else cell["value"] - cell["ci_low"]


def _figures(v: Validation, report: dict[str, Any]) -> list[go.Figure]:
    figures = []
    for source, block in report["forecasts"].items():
        scored = [h for h in block["horizons"] if h["scored"]]
        if not scored:
            continue
        errors = go.Figure()
        for name in ("model", *BASELINES):
            cells = [h["pooled"][name]["rmse"] for h in scored]
            errors.add_bar(name=name, x=[f"h={h['horizon']}" for h in scored],
                           y=[c["value"] for c in cells],
                           error_y={"type": "data", "symmetric": False,
                                    "array": [_above(c) for c in cells],
                                    "arrayminus": [_below(c) for c in cells]})
        errors.update_layout(title=f"{source}: RMSE by horizon with 95 % CI", barmode="group",
                             yaxis_title="RMSE of the h-candle return")
        figures.append(errors)
        scatter = make_subplots(rows=1, cols=len(scored),
                                subplot_titles=[f"h={h['horizon']}" for h in scored])
        for col, h in enumerate(scored, start=1):
            for pair, rows in v.rows[source][h["horizon"]].items():
                sample = rows.iloc[:: max(1, len(rows) // 1500)]
                scatter.add_scatter(x=sample["model"], y=sample["realized"], mode="markers",
                                    name=pair, marker={"size": 3}, row=1, col=col,
                                    showlegend=col == 1)
            scatter.update_xaxes(title_text="forecast", row=1, col=col)
        scatter.update_yaxes(title_text="realized", row=1, col=1)
        scatter.update_layout(title=f"{source}: forecast vs realized return")
        figures.append(scatter)
    attention = report["attention"]
    if attention.get("applicable", True):
        heat = make_subplots(rows=1, cols=2, subplot_titles=[
            "mean attention (query step x key step)", "newest step's attention by lag"])
        heat.add_heatmap(z=attention["mean_matrix"], colorscale="Viridis", row=1, col=1)
        heat.add_bar(y=attention["profile_by_lag"], row=1, col=2, showlegend=False)
        heat.update_xaxes(title_text="key step (0 = oldest)", row=1, col=1)
        heat.update_xaxes(title_text="lag (candles back)", row=1, col=2)
        heat.update_layout(title="Attention")
        figures.append(heat)
    profile = report["long_term_dependency"]["profile_by_lag"]
    if profile:
        dep = go.Figure(go.Bar(y=profile))
        dep.update_layout(title="Dependency of the forecast on its inputs by lag (saliency "
                                "share)", xaxis_title="lag (candles back)",
                          yaxis_title="share of saliency")
        figures.append(dep)
    return figures


def _table(block: dict[str, Any]) -> str:
    head = "".join(f"<th>{m}</th>" for m in METRICS)
    rows = []
    for h in block["horizons"]:
        if not h["scored"]:
            rows.append(f"<tr><td>{h['horizon']}</td><td colspan='{len(METRICS) + 2}'>"
                        f"{html.escape(h['source'])}</td></tr>")
            continue
        for name in ("model", *BASELINES):
            cells = "".join(f"<td>{_fmt(h['pooled'][name][m])}</td>" for m in METRICS)
            rows.append(f"<tr><td>{h['horizon']}</td><td>{name}</td>"
                        f"<td>{h['pooled']['rows']}</td>{cells}</tr>")
        rows.append(f"<tr><td></td><td colspan='{len(METRICS) + 2}'><i>source: "
                    f"{html.escape(h['source'])}</i></td></tr>")
    return (f"<table><tr><th>h</th><th>forecast</th><th>rows</th>{head}</tr>"
            + "".join(rows) + "</table>")


def write_outputs(v: Validation) -> tuple[dict[str, Any], str]:
    out = v.options.out
    (out / "returns").mkdir(parents=True, exist_ok=True)
    report = to_json(v)
    returns = {pair: walk_forward_returns(v, pair) for pair in sorted(v.run.windows)
               if pair in v.forecasts.get("backtest", {}).get("pairs_scored", [])}
    for pair, frame in returns.items():
        frame.to_csv(out / "returns" / f"{pair.replace('/', '_')}.csv", index=False)
    (out / "validation.json").write_text(json.dumps(report, indent=2, default=_json_default))
    equity = after_fee_figure(returns)
    figures = [*_figures(v, report), *coverage_figures(report), *volatility_figures(report),
               *([equity] if equity else [])]
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0))
             for i, fig in enumerate(figures)]
    tables = "".join(f"<h2>{s} forecasts (pooled)</h2>{_table(b)}"
                     for s, b in report["forecasts"].items())
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in report["problems"]) or "<li>none</li>"
    formulas = "".join(f"<li><b>{k}</b>: {html.escape(t)}</li>" for k, t in FORMULAS.items())
    consistency = "".join(f"<tr><td>{html.escape(k)}</td><td>{_number(x)}</td></tr>"
                          for k, x in report["temporal_consistency"].items())
    scores = html.escape("\n".join(interval_lines(report) + volatility_lines(report)
                                   + cost_lines(report)).strip())
    note = not_applicable_note(report)
    note_html = f"<p>{html.escape(note)}</p>" if note else ""
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Validation of {html.escape(v.run.identifier)}</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}</style></head><body>"
        f"<h1>Validation of {html.escape(v.run.identifier)}</h1>"
        f"<p>Generated {report['generated_at']}; timeframe {v.timeframe}; pairs "
        f"{', '.join(report['pairs'])}; schema {SCHEMA} v{SCHEMA_VERSION}.</p>"
        f"<h2>Problems</h2><ul>{problems}</ul>{note_html}{tables}"
        f"<h2>Intervals, volatility and after-fee returns</h2><pre>{scores or 'none'}</pre>"
        f"<h2>Temporal consistency</h2><table><tr><th>measure</th><th>value</th></tr>"
        f"{consistency}</table>"
        + "".join(parts)
        + f"<h2>Formulas</h2><ul>{formulas}</ul></body></html>")
    (out / "validation.html").write_text(page)
    return report, console_summary(report, out)
