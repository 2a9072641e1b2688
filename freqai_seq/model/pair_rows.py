"""One pair's training rows the way FreqAI prepares them: NaN rows filtered, the chronological
train/test split, label statistics, and the pair's own feature and label pipelines fitted on the
train part. Shared by the sequence models and the pooled LightGBM baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from freqtrade.exceptions import OperationalException
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from freqai_seq.model.model_inputs import dates_ns

MIN_PIPELINE_ROWS = 5  # rows FreqAI's split and scalers need for a pair's own pipelines


@dataclass
class ScaledRows:
    data: dict[str, Any]  # FreqAI's data dictionary, scaled by the pair's pipelines
    row_dates: np.ndarray
    has_test: bool
    raw_labels: list[DataFrame | None]  # unscaled train and test labels


def scaled_rows(model: Any, unfiltered_df: DataFrame, pair: str, dk: FreqaiDataKitchen,
                needed: int, why: str) -> ScaledRows:
    """`needed`: the fewest rows this model can use (`why` says what needs them)."""
    features, labels = dk.filter_features(unfiltered_df, dk.training_features_list,
                                          dk.label_list, training_filter=True)
    if len(features) < needed:
        raise OperationalException(
            f"{pair}: {len(features)} training rows without NaN features or labels, but "
            f"{why} needs at least {needed}: lengthen train_period_days, shorten the window or "
            "fix the features that are NaN.")
    row_dates = dates_ns(unfiltered_df.loc[features.index, "date"])
    dd = dk.make_train_test_datasets(features, labels)
    if not model.freqai_info.get("fit_live_predictions_candles", 0) or not model.live:
        dk.fit_labels()
    dk.feature_pipeline = model.define_data_pipeline(threads=dk.thread_count)
    dk.label_pipeline = model.define_label_pipeline(threads=dk.thread_count)
    has_test = len(dd.get("test_features", [])) > 0
    raw_labels = [dd["train_labels"], dd["test_labels"] if has_test else None]
    dd["train_features"], dd["train_labels"], dd["train_weights"] = (
        dk.feature_pipeline.fit_transform(dd["train_features"], dd["train_labels"],
                                          dd["train_weights"]))
    dd["train_labels"], _, _ = dk.label_pipeline.fit_transform(dd["train_labels"])
    if has_test:
        dd["test_features"], dd["test_labels"], dd["test_weights"] = (
            dk.feature_pipeline.transform(dd["test_features"], dd["test_labels"],
                                          dd["test_weights"]))
        dd["test_labels"], _, _ = dk.label_pipeline.transform(dd["test_labels"])
    return ScaledRows(dd, row_dates, has_test, raw_labels)
