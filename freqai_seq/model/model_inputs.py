"""From raw feature rows to what a saved sequence model reads, the same way for FreqAI's
prediction and for the validation module's re-runs of saved models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from freqai_seq.model.sequence_model import SequenceModel


def dates_ns(dates: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(dates).as_unit("ns").asi8


@dataclass(frozen=True)
class ModelInputs:
    """Scaled features of the rows to predict, preceded by the model's training tail when that
    tail ends right before them (`prepended` rows)."""

    features: np.ndarray  # (rows, features) float32, after the feature pipeline
    dates_ns: np.ndarray
    finite: np.ndarray  # rows whose raw features were all finite (NaN / inf were set to 0)
    inlier: np.ndarray  # rows the pipeline's outlier steps kept
    prepended: int
    di_values: np.ndarray | None  # the pipeline's dissimilarity index, when DI is on


def model_inputs(model: SequenceModel, frame: pd.DataFrame, raw_features: list[str],
                 feature_pipeline: Any, with_di: bool = False) -> ModelInputs:
    """`frame` holds `date` and the raw features the pipeline was fitted on (FreqAI's
    `training_features_list`), in time order."""
    names = raw_features
    rows = frame[["date", *names]]
    row_dates = dates_ns(rows["date"])
    prepended = 0
    if len(rows) and model.tail.precedes(int(row_dates[0]), model.timeframe_ns):
        tail = model.tail.features[names]
        prepended = len(tail)
        rows = pd.concat([tail.assign(date=pd.to_datetime(model.tail.dates_ns, utc=True)), rows],
                         ignore_index=True)
        row_dates = np.concatenate([model.tail.dates_ns, row_dates])
    raw = rows[names].replace([np.inf, -np.inf], np.nan)
    finite = raw.notna().all(axis=1).to_numpy()
    transformed, outliers, _ = feature_pipeline.transform(raw.fillna(0), outlier_check=True)
    di_values = np.asarray(feature_pipeline["di"].di_values) if with_di else None
    return ModelInputs(model.input_matrix(transformed), row_dates, finite,
                       np.asarray(outliers) == 1, prepended, di_values)
