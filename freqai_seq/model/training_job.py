"""What one training works on, as typed values handed from call to call: one pair's prepared
rows, and the job a network's `fit` trains from them (plus, cross-pair, every pair's pooled
windows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pandas import DataFrame

from freqai_seq.model.sequence_model import PAIR_ID_COLUMN, CrossPair, HistoryTail
from freqai_seq.model.tasks import TaskLayout
from freqai_seq.model.training import WindowedData


@dataclass(frozen=True)
class PreparedPair:
    """One pair's training rows after its FreqAI pipelines, and what `fit` needs with them."""

    pair: str
    data: dict[str, Any]  # FreqAI's data dictionary, scaled
    row_dates: np.ndarray
    tail: HistoryTail | None  # None for models without windows (the pooled LightGBM)
    layout: TaskLayout | None
    classes: np.ndarray
    has_test: bool
    raw_features: list[str]
    labels: list[str]
    raw_test_labels: DataFrame | None = None  # label units: the rows intervals are calibrated on

    @property
    def train_rows(self) -> int:
        return len(self.data["train_features"])


@dataclass(frozen=True)
class PooledWindows:
    """A cross-pair network's training set: every trained pair's windows, and what binds the
    network to those pairs and their shared column order."""

    data: WindowedData
    cross: CrossPair


@dataclass(frozen=True)
class TrainingJob:
    """Everything one `fit` trains on. `prepared` is the pair FreqAI is training (its labels,
    task layout, history tail and, for a per-pair network, its rows); `pooled` replaces those
    rows with every pair's windows when the network is shared across pairs."""

    prepared: PreparedPair
    pooled: PooledWindows | None = None

    @property
    def pair(self) -> str:
        return self.prepared.pair

    @property
    def layout(self) -> TaskLayout:
        assert self.prepared.layout is not None, "a network trains on a task layout"
        return self.prepared.layout

    @property
    def tail(self) -> HistoryTail:
        assert self.prepared.tail is not None, "a network keeps its training tail"
        return self.prepared.tail

    @property
    def feature_names(self) -> list[str]:
        """The network's input columns: the pair's own, or the shared order and the pair id."""
        if self.pooled is not None:
            return [*self.pooled.cross.columns, PAIR_ID_COLUMN]
        return list(self.prepared.data["train_features"].columns)
