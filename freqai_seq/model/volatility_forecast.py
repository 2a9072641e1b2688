"""Volatility forecasts as per-candle variances, whichever label carries them.

- `&-vol_<h>` forecasts the standard deviation of the next h one-candle log returns (trained
  with the squared error of the standard deviation);
- `&-logvar_<h>` forecasts the log of their variance, trained with the squared error of the log
  (the log-variance loss). exp of a mean log is a median, which sits below the mean variance
  QLIKE ranks forecasts by, so every model also stores a calibration offset: the log of the mean
  ratio of realized to forecast variance on the pair's FreqAI test rows after the embargo (the
  rows the intervals are calibrated on, freqai_seq.model.intervals). That offset is the scale which
  minimises QLIKE on those rows; it is added to every later prediction of the model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
from pandas import DataFrame

from freqai_seq.labels import is_log_variance

logger = logging.getLogger(__name__)

def forecast_variance(label: str, values: np.ndarray) -> np.ndarray:
    """Per-candle variance forecasts from the label's predicted values. A standard deviation at
    or below 0 stays non-positive, so scoring excludes and counts it (squaring it would pass it
    off as a variance)."""
    values = np.asarray(values, dtype=np.float64)
    if is_log_variance(label):
        return np.exp(values)
    return np.sign(values) * values**2


@dataclass(frozen=True)
class VarianceCalibration:
    """The calibration offset of one `&-logvar_<h>` forecast."""

    label: str
    offset: float  # added to the predicted log variance
    rows: int  # calibration rows it was computed on (0: uncalibrated, offset 0)

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def calibrate_variance(predicted: DataFrame, truth: DataFrame,
                       labels: list[str]) -> list[VarianceCalibration]:
    """The offset of every log-variance label, from predicted and realized log variances of the
    calibration rows (label units); offset 0 without a finite row."""
    out = []
    for label in (name for name in labels if is_log_variance(name)):
        diff = truth[label].to_numpy(np.float64) - predicted[label].to_numpy(np.float64)
        diff = diff[np.isfinite(diff)]
        if len(diff) == 0:
            out.append(VarianceCalibration(label, 0.0, 0))
            continue
        # log mean exp, shifted by the largest term so it cannot overflow
        top = float(diff.max())
        out.append(VarianceCalibration(label, top + math.log(np.mean(np.exp(diff - top))),
                                       len(diff)))
    return out


def apply_variance_calibration(frame: DataFrame,
                               calibration: list[VarianceCalibration]) -> DataFrame:
    for c in calibration:
        frame[c.label] = frame[c.label] + c.offset
    return frame
