"""Multi-horizon forecast validation: which label forecasts which horizon, and its scores beside
the naive baselines on the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from freqai_seq.evaluation.validation.forecast_metrics import block_length, score_with_ci
from freqai_seq.evaluation.validation.truth import truth_and_baselines
from freqai_seq.labels import return_labels

DEFAULT_HORIZONS = (1, 5, 10, 20, 50)
BASELINES = ("zero", "persistence", "rolling_mean")


@dataclass(frozen=True)
class HorizonSource:
    horizon: int
    label: str | None
    source: str


def plan_horizons(requested: tuple[int, ...], columns: list[str]) -> list[HorizonSource]:
    """Every requested horizon plus every horizon the model forecasts; a horizon without its own
    label is listed as not scored rather than compared with another horizon's forecast."""
    labels = return_labels(columns)
    plan = []
    for h in sorted(set(requested) | set(labels)):
        label = labels.get(h)
        if label is None:
            source = (f"no forecast: the model predicts horizons {sorted(labels)} only"
                      if labels else "no forecast: no `&-ret_<h>` label in the predictions")
        elif len(labels) > 1:
            source = f"multi-horizon model, head {label}"
        else:
            source = f"the model's single trained horizon, {label}"
        plan.append(HorizonSource(h, label, source))
    return plan


def aligned_rows(predictions: pd.DataFrame, candles: pd.DataFrame, horizon: int, label: str,
                 timeframe: str) -> pd.DataFrame:
    """Usable forecasts (do_predict == 1) with truth and baselines, rows where all are finite."""
    usable = predictions[predictions["do_predict"] == 1]
    dates = pd.DatetimeIndex(usable["date"]).as_unit("ns")
    series = truth_and_baselines(candles, horizon, timeframe)
    frame = pd.DataFrame({"date": dates, "model": usable[label].to_numpy(np.float64)})
    for name, values in series.items():
        frame[name] = values.reindex(pd.DatetimeIndex(values.index).as_unit("ns")).reindex(
            dates).to_numpy()
    frame["zero"] = 0.0
    return frame[np.isfinite(frame.drop(columns="date").to_numpy()).all(axis=1)]


def evaluate_horizon(source: HorizonSource, rows_by_pair: dict[str, pd.DataFrame],
                     resamples: int, seed: int, min_block: int = 0) -> dict[str, Any]:
    """Pooled and per-pair scores; `min_block`: candles of one retrain window, the shortest
    bootstrap block (predictions of one window share a model)."""
    result: dict[str, Any] = {"horizon": source.horizon, "label": source.label,
                              "source": source.source, "scored": False}
    pairs = {p: r for p, r in rows_by_pair.items() if len(r) >= 3}
    if source.label is None or not pairs:
        return result
    names = ("model", *BASELINES)

    def scored(frames: list[pd.DataFrame]) -> dict[str, Any]:
        rows = pd.concat(frames, ignore_index=True)
        forecasts = {n: rows[n].to_numpy() for n in names}
        dates = rows["date"].to_numpy()
        pair_of_row = np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)])
        scores = score_with_ci(forecasts, rows["realized"].to_numpy(), dates, source.horizon,
                               resamples, seed, min_block=min_block, groups=pair_of_row)
        n_dates = len(np.unique(dates))
        return {"rows": len(rows), "dates": n_dates,
                "block_length": block_length(n_dates, source.horizon, min_block),
                **{n: s.as_dict() for n, s in scores.items()}}

    result["scored"] = True
    result["pooled"] = scored(list(pairs.values()))
    result["per_pair"] = {p: scored([r]) for p, r in pairs.items()}
    return result


def smoothness(pred: np.ndarray) -> float:
    """1 - Var(diff) / (2 Var): the lag-1 autocorrelation of a stationary forecast, 1 for a
    forecast that never moves between candles, about 0 for noise, below 0 when it flips."""
    pred = pred[np.isfinite(pred)]
    if len(pred) < 3 or np.var(pred) == 0:
        return float("nan")
    return float(1 - np.var(np.diff(pred)) / (2 * np.var(pred)))
