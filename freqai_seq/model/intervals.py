"""Quantile forecasts made usable: never crossing, and conformally calibrated intervals.

The network's outputs for the quantile labels of one target (`&-q10_ret_12`, `&-q90_ret_12`,
...) are a monotone parametrisation: the lowest level's output is its quantile, each higher
level adds softplus(its output) to the one below, in training and prediction alike, so they
never cross. (Sorting free outputs instead stalls training: an output that is the lowest on some
rows and the highest on others gets contradictory gradients.) Each pair of levels tau and
1 - tau is an interval of nominal coverage 1 - 2 tau, calibrated by conformalized quantile
regression (Romano et al. 2019) on rows the network was not trained on: FreqAI's test split of
the training window, after an embargo of h candles (the labels of the last training rows look h
candles into it). Those rows also pick the best epoch, so they are not untouched and the
correction may come out a little small; the walk-forward coverage `validate` measures is the
figure that counts. On those rows the conformity score is
E = max(lower - y, y - upper); the interval is widened (or narrowed, when E is mostly negative)
by the ceil((n + 1)(1 - alpha))-th smallest E. The same correction is applied to every later
prediction of the model, so backtest and live intervals are equal row for row.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pandas import DataFrame

from freqai_seq.model.tasks import TaskLayout

logger = logging.getLogger(__name__)

# softplus(x, beta) = log(1 + exp(beta x)) / beta: the gap between two levels starts at
# log(2) / beta when the output is 0, about the spread of returns in FreqAI's [-1, 1] label
# scale (beta 1 starts the gaps 10 times too wide, and shrinking them through the flat tail of
# softplus stalls training).
SOFTPLUS_BETA = 10.0


@dataclass(frozen=True)
class IntervalCalibration:
    """The conformal correction of one interval, in the target's units."""

    lower: str
    upper: str
    coverage: float  # nominal
    correction: float  # added to the upper, subtracted from the lower quantile
    rows: int  # calibration rows it was computed on (0: uncalibrated, correction 0)

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def monotone_quantiles(outputs: torch.Tensor, layout: TaskLayout) -> torch.Tensor:
    """The network's raw outputs with each quantile group turned into increasing quantiles
    (scaled units; FreqAI's label scaling of the group is one increasing map, so the order
    holds in the target's units)."""
    if not layout.quantile_groups:
        return outputs
    columns = list(outputs.unbind(dim=1))
    for group in layout.quantile_groups:
        below = columns[group.idx[0]]
        for i in group.idx[1:]:
            below = columns[i] = below + F.softplus(columns[i], beta=SOFTPLUS_BETA)
    return torch.stack(columns, dim=1)


def sort_quantiles(values: np.ndarray, layout: TaskLayout) -> np.ndarray:
    """`values` (rows, labels) with each quantile group's columns in increasing order."""
    out = values.copy()
    for group in layout.quantile_groups:
        idx = list(group.idx)
        out[:, idx] = np.sort(values[:, idx], axis=1)  # NaN rows stay NaN (sorted last)
    return out


def conformal_correction(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray,
                         coverage: float) -> tuple[float, int]:
    """Split-conformal correction of the interval [lower, upper] for `coverage`, from rows the
    model did not fit; (0, 0) without a finite row. With fewer rows than the level needs
    (ceil((n + 1) coverage) > n) the largest score is used, and said."""
    ok = np.isfinite(lower) & np.isfinite(upper) & np.isfinite(truth)
    scores = np.maximum(lower[ok] - truth[ok], truth[ok] - upper[ok])
    n = len(scores)
    if n == 0:
        return 0.0, 0
    k = math.ceil((n + 1) * coverage)
    if k > n:
        logger.warning("%d calibration rows are too few for a %.0f %% interval: the largest "
                       "conformity score is used", n, coverage * 100)
        k = n
    return float(np.sort(scores)[k - 1]), n


def calibrate(predicted: DataFrame, truth: DataFrame, layout: TaskLayout,
              labels: list[str]) -> list[IntervalCalibration]:
    """The correction of every interval of `layout`, from the model's predictions and the
    realized targets (label units) of the calibration rows."""
    out = []
    for group in layout.quantile_groups:
        values = sort_quantiles(predicted[labels].to_numpy(np.float64), layout)
        target = truth[labels[group.idx[0]]].to_numpy(np.float64)
        for lo, hi, coverage in group.intervals():
            correction, rows = conformal_correction(values[:, lo], values[:, hi], target,
                                                    coverage)
            out.append(IntervalCalibration(labels[lo], labels[hi], coverage, correction, rows))
    return out


def finish_quantiles(frame: DataFrame, layout: TaskLayout, labels: list[str],
                     calibration: list[IntervalCalibration]) -> DataFrame:
    """The predicted quantile columns (label units), calibrated, then sorted: a correction
    that narrows an interval past the median cannot make the quantiles cross."""
    if not layout.quantile_groups:
        return frame
    values = frame[labels].to_numpy(np.float64)
    position = {name: i for i, name in enumerate(labels)}
    values = sort_quantiles(values, layout)
    for c in calibration:
        values[:, position[c.lower]] -= c.correction
        values[:, position[c.upper]] += c.correction
    values = sort_quantiles(values, layout)
    for i in layout.quantile_idx:
        frame[labels[i]] = values[:, i]
    return frame
