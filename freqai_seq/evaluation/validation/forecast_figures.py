"""Charts of the interval, volatility and after-fee scores for the HTML report."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go


def _error(cells: list[dict[str, Any]]) -> dict[str, Any]:
    def gap(cell: dict[str, Any], side: str) -> float:
        bound = cell.get(side)
        return 0.0 if bound is None else abs(bound - cell["value"])

    return {"type": "data", "symmetric": False,
            "array": [gap(c, "ci_high") for c in cells],
            "arrayminus": [gap(c, "ci_low") for c in cells]}


def _forecasts(block: dict[str, Any]) -> list[str]:
    """The forecasts scored in a block (not its counts, not the paired differences)."""
    return [n for n, v in block.items() if isinstance(v, dict) and "-" not in n]


def coverage_figures(report: dict[str, Any]) -> list[go.Figure]:
    """Per interval: coverage of each forecast, pooled and per ex-ante volatility tercile,
    with the nominal level drawn across."""
    figures = []
    for source, items in report.get("intervals", {}).items():
        for item in (i for i in items if i["scored"]):
            groups = {"pooled": item["pooled"], **item.get("per_volatility_tercile", {})}
            fig = go.Figure()
            for name in _forecasts(item["pooled"]):
                cells = [g[name]["coverage"] for g in groups.values()]
                fig.add_bar(name=name, x=list(groups), y=[c["value"] for c in cells],
                            error_y=_error(cells))
            fig.add_hline(y=item["coverage"], line_dash="dash",
                          annotation_text=f"nominal {item['coverage']:.0%}")
            fig.update_layout(title=f"{source}: coverage of the {item['coverage']:.0%} interval "
                                    f"of the {item['horizon']}-candle return (95 % CI)",
                              barmode="group", yaxis_title="share of outcomes inside",
                              xaxis_title="rows (ex-ante EWMA volatility tercile)")
            figures.append(fig)
    return figures


def volatility_figures(report: dict[str, Any]) -> list[go.Figure]:
    figures = []
    for source, items in report.get("volatility", {}).items():
        for item in (i for i in items if i["scored"]):
            names = _forecasts(item["pooled"])
            cells = [item["pooled"][n]["qlike"] for n in names]
            fig = go.Figure(go.Bar(x=names, y=[c["value"] for c in cells],
                                   error_y=_error(cells)))
            fig.update_layout(title=f"{source}: QLIKE of {item['label']} and the baselines "
                                    "(lower is better, 95 % CI)", yaxis_title="QLIKE")
            figures.append(fig)
    return figures


def after_fee_figure(returns: dict[str, pd.DataFrame]) -> go.Figure | None:
    """Cumulative after-fee return of the signal rule, the mean over pairs at each candle."""
    frames = [r for r in returns.values() if any(c.startswith("after_fee_return_") for c in r)]
    if not frames:
        return None
    pooled = pd.concat(frames).groupby("date").mean(numeric_only=True).sort_index()
    fig = go.Figure()
    for column in (c for c in pooled if c.startswith("after_fee_return_")):
        fig.add_scatter(x=pooled.index, y=pooled[column].cumsum(), mode="lines",
                        name=column.removeprefix("after_fee_return_"))
    fig.update_layout(title="Cumulative after-fee return of the signal rule (long when the "
                            "forecast clears the round-trip fee), mean over pairs",
                      yaxis_title="sum of after-fee returns per candle")
    return fig
