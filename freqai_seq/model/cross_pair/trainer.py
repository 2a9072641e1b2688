"""Training (or reusing) the shared network of one window.

The first pair FreqAI trains in a window builds every whitelisted pair's training rows (each
scaled by that pair's own pipelines, fitted on its own train part exactly as FreqAI fits them
when it reaches the pair), pools them and trains one network; the network is stored under a key
of everything that shapes it. A later pair of the same window (in live: until the network is
`live_retrain_hours` old) loads it instead of training. Which pair comes first never changes the
result: the pooled rows are in sorted pair order and built the same way for every pair.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from time import time
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import torch
from freqtrade.configuration import TimeRange
from freqtrade.exceptions import OperationalException
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model.cross_pair.columns import aligned_names, check_same_features
from freqai_seq.model.cross_pair.frames import PairFrames
from freqai_seq.model.cross_pair.pooling import PairRows, pair_window_ends, pool_windows
from freqai_seq.model.cross_pair.store import SharedNetworks, network_key
from freqai_seq.model.drawer import CrashSafeDataDrawer
from freqai_seq.model.sequence_model import CrossPair, SequenceModel
from freqai_seq.model.training_job import PooledWindows, PreparedPair, TrainingJob

logger = logging.getLogger(__name__)

Pooled = TypeVar("Pooled")


@dataclass(frozen=True)
class CrossPairContext:
    """What training a window's shared model needs from the FreqAI model and FreqAI's state,
    handed over as values (freqai_seq.model.cross_pair.hooks builds it): the trainer reads
    nothing else of the model."""

    config: dict[str, Any]  # freqtrade's config: the other pairs' data kitchens are built on it
    live: bool
    timerange: TimeRange  # FreqAI's (buffered) training range of the window
    pairs: tuple[str, ...]  # the pairs trained on, sorted
    corr_pairs: tuple[str, ...]  # FreqAI's include_corr_pairlist
    frames: PairFrames  # where the other pairs' training rows come from
    key_parts: dict[str, Any]  # what, besides the rows, decides the model (code, settings)
    reuse_seconds: int  # how long a stored model of the key stands for later windows

    @property
    def stop(self) -> int:
        return int(self.timerange.stopts)


class PairPreparer(Protocol):
    def prepare(self, unfiltered_df: DataFrame, pair: str,
                dk: FreqaiDataKitchen) -> PreparedPair: ...


class NetworkLearner(PairPreparer, Protocol):
    """The calls a shared network's training makes back into the sequence regressor."""

    def fit(self, job: TrainingJob) -> SequenceModel: ...

    def calibrate(self, model: SequenceModel, prepared: PreparedPair,
                  dk: FreqaiDataKitchen) -> SequenceModel: ...


class CrossPairTrainer(ABC, Generic[Pooled]):
    """The shared part: which pairs, their rows, the key and the store. Subclasses train and
    load the pooled model itself."""

    suffix = ".pt"

    def __init__(self, context: CrossPairContext, prepared: PreparedPair,
                 dk: FreqaiDataKitchen, preparer: PairPreparer) -> None:
        self.context, self.prepared, self.preparer = context, prepared, preparer
        self.timerange, self.stop = context.timerange, context.stop
        self.corr, self.pairs = context.corr_pairs, list(context.pairs)
        self.columns = aligned_names(prepared.raw_features, prepared.pair, self.corr)
        self.store = SharedNetworks(Path(dk.full_path))
        self.kitchens: dict[str, FreqaiDataKitchen] = {}  # the other pairs', from prepare_all

    @abstractmethod
    def train(self, key: str) -> Pooled:
        """Train the window's pooled model and store it under `key`."""

    @abstractmethod
    def load(self, path: Path) -> Pooled:
        """A stored pooled model."""

    def key(self) -> str:
        return network_key({**self.context.key_parts, "columns": self.columns,
                            "labels": self.prepared.labels, "pairs": self.pairs})

    def network(self) -> Pooled:
        key = self.key()
        found = self.store.find(key, self.stop, self.context.reuse_seconds)
        if found is not None:
            logger.info("cross-pair: %s reuses the shared network %s", self.prepared.pair,
                        found.name)
            return self.load(found)
        return self.train(key)

    def prepare_all(self) -> dict[str, PreparedPair]:
        """Every trained pair's rows (the pair at hand's are already prepared)."""
        prepared = {self.prepared.pair: self.prepared} if self.prepared.pair in self.pairs \
            else {}
        for pair in self.pairs:
            if pair in prepared:
                continue
            dk = FreqaiDataKitchen(self.context.config, self.context.live, pair)
            dk.set_paths(pair, self.stop)
            try:
                frame = self.context.frames.training_frame(pair, dk, self.timerange)
                dk.find_features(frame)
                dk.find_labels(frame)
                prepared[pair] = self.preparer.prepare(frame, pair, dk)
                self.kitchens[pair] = dk
            except (OperationalException, FreqaiSeqError, KeyError, ValueError) as err:
                logger.warning("cross-pair: %s is left out of the shared network of the window "
                               "ending %s: %s", pair, self.timerange.stop_fmt, err)
        return dict(sorted(prepared.items()))

    def rows(self, prepared: dict[str, PreparedPair], vocabulary: tuple[str, ...],
             canonical: tuple[str, ...]) -> list[PairRows]:
        rows = []
        for pair, p in prepared.items():
            parts = ["train", "test"] if p.has_test else ["train"]
            scaled = [p.data[f"{part}_features"] for part in parts]
            binding = CrossPair(vocabulary, canonical, self.corr, pair)
            rows.append(PairRows(
                pair, np.concatenate([binding.inputs(s) for s in scaled]),
                np.concatenate([p.data[f"{part}_labels"].to_numpy(np.float32) for part in parts]),
                np.concatenate([np.asarray(p.data[f"{part}_weights"], np.float32)
                                for part in parts]),
                p.classes, p.row_dates, p.train_rows))
        return rows

    def canonical(self, prepared: dict[str, PreparedPair]) -> tuple[str, ...]:
        """The shared column order; the pairs' labels must be the same."""
        labels = {pair: p.labels for pair, p in prepared.items()}
        if any(v != self.prepared.labels for v in labels.values()):
            raise OperationalException(f"cross-pair: the pairs' labels differ: {labels}")
        return tuple(check_same_features(
            {pair: p.raw_features for pair, p in prepared.items()}, self.corr))



class SharedNetworkTrainer(CrossPairTrainer[SequenceModel]):
    """The window's shared sequence network: pooled windows of every pair, trained through the
    regressor's own `fit`."""

    def __init__(self, context: CrossPairContext, prepared: PreparedPair,
                 dk: FreqaiDataKitchen, learner: NetworkLearner, window: int,
                 timeframe_ns: int, device: torch.device,
                 drawer: CrashSafeDataDrawer | None) -> None:
        """`drawer`: where the other pairs' models of the window are saved for FreqAI to load
        (a backtest with saved models), or None."""
        super().__init__(context, prepared, dk, learner)
        self.learner, self.window, self.timeframe_ns = learner, window, timeframe_ns
        self.device, self.drawer = device, drawer

    def load(self, path: Path) -> SequenceModel:
        return SequenceModel.load(path)

    def train(self, key: str) -> SequenceModel:
        start = time()
        prepared = self.prepare_all()
        canonical = self.canonical(prepared)
        window, tf_ns = self.window, self.timeframe_ns
        # Pairs with no complete training window (new listings) are not trained on: they get
        # the "unseen pair" slot like any pair the network never saw.
        vocabulary = tuple(
            pair for pair, p in prepared.items()
            if (pair_window_ends(p.row_dates, window, tf_ns) < p.train_rows).any())
        rows = self.rows({pair: prepared[pair] for pair in vocabulary}, vocabulary, canonical)
        pooled = pool_windows(rows, window, tf_ns, self.device)
        logger.info("cross-pair: training the shared network of the window ending %s on %d "
                    "pairs (%s): %d training and %d validation windows, %d features",
                    self.timerange.stop_fmt, len(vocabulary), ", ".join(vocabulary),
                    len(pooled.train_ends), len(pooled.val_ends), len(canonical))
        missing = sorted(set(self.pairs) - set(vocabulary))
        if missing:
            logger.warning("cross-pair: %d pair(s) not in the training of this window: %s",
                           len(missing), ", ".join(missing))
        job = TrainingJob(self.prepared,
                          PooledWindows(pooled, CrossPair(vocabulary, canonical, self.corr)))
        network = self.learner.fit(job)
        path = self.store.path(key, self.stop, self.suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        network.save(path)
        logger.info("cross-pair: shared network saved as %s (%.2f secs)", path.name,
                    time() - start)
        self.save_pair_models(network, prepared)
        return network

    def save_pair_models(self, network: SequenceModel,
                         prepared: dict[str, PreparedPair]) -> None:
        """Backtest with saved models: every other pair's model of the window, with the
        pipelines fitted for it here, in FreqAI's own folder layout, so FreqAI loads them when
        it reaches the pair instead of calling `train` (live, each pair trains when it is due
        and reuses the network from the store)."""
        if self.drawer is None:
            return
        for pair, dk in self.kitchens.items():
            dk.set_new_model_names(pair, self.stop)
            model = self.learner.calibrate(network.for_pair(pair, prepared[pair].tail),
                                           prepared[pair], dk)
            self.drawer.save_unreached_pair_model(model, pair, dk)
        logger.info("cross-pair: saved the models and pipelines of %d other pair(s) for this "
                    "window", len(self.kitchens))
