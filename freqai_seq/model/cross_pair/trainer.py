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
from pathlib import Path
from time import time
from typing import TYPE_CHECKING, Any

import numpy as np
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model.config_schema import pair_list
from freqai_seq.model.cross_pair.columns import aligned_names, check_same_features
from freqai_seq.model.cross_pair.frames import BacktestFrames, LiveFrames, PairFrames
from freqai_seq.model.cross_pair.pooling import PairRows, pair_window_ends, pool_windows
from freqai_seq.model.cross_pair.store import SharedNetworks, network_key
from freqai_seq.model.sequence_model import PAIR_ID_COLUMN, CrossPair, SequenceModel

if TYPE_CHECKING:
    from freqai_seq.model.regressor import PreparedPair

logger = logging.getLogger(__name__)


class CrossPairTrainer:
    """The shared part: which pairs, their rows, the key and the store. Subclasses train and
    load the pooled model itself."""

    suffix = ".pt"

    def __init__(self, model: Any, prepared: PreparedPair, dk: FreqaiDataKitchen) -> None:
        self.model, self.prepared, self.dk = model, prepared, dk
        self.timerange = model.training_timerange
        self.stop = int(self.timerange.stopts)
        self.corr = tuple(model.freqai_info.get("feature_parameters", {})
                          .get("include_corr_pairlist", []))
        self.pairs = self._pairs()
        self.columns = aligned_names(prepared.raw_features, prepared.pair, self.corr)
        self.store = SharedNetworks(Path(dk.full_path))
        self.kitchens: dict[str, FreqaiDataKitchen] = {}  # the other pairs', from prepare_all

    def _pairs(self) -> list[str]:
        """`cross_pair_pairs` when set (a pair outside it is not trained on: it predicts
        through the "unseen pair" slot), else the current whitelist."""
        try:
            listed = pair_list(self.model.model_training_parameters.get("cross_pair_pairs"))
        except FreqaiSeqError as err:
            raise OperationalException(str(err)) from err
        if listed:
            return sorted(listed)
        dp = getattr(self.model, "data_provider", None)
        whitelist = dp.current_whitelist() if dp is not None else \
            self.model.config["exchange"]["pair_whitelist"]
        return sorted({*whitelist, self.prepared.pair})

    def model_parts(self) -> dict[str, Any]:
        """What, besides the data, decides the pooled model (code format, its settings)."""
        m = self.model
        return {"format": [SequenceModel.format, SequenceModel.format_version],
                "network": m.network, "config": m.seq_cfg.to_dict()}

    def key(self) -> str:
        m = self.model
        return network_key({
            **self.model_parts(), "model": type(m).__name__,
            "training": m.model_training_parameters, "columns": self.columns,
            "labels": self.prepared.labels, "pairs": self.pairs,
            "timeframe": m.config["timeframe"],
            "train_period_days": m.freqai_info.get("train_period_days"),
            "feature_parameters": m.freqai_info.get("feature_parameters", {}),
            "data_split_parameters": m.freqai_info.get("data_split_parameters", {}),
        })

    def reuse_seconds(self) -> int:
        candle = timeframe_to_seconds(self.model.config["timeframe"])
        if not self.model.live:
            return candle
        return max(candle, int(self.model.freqai_info.get("live_retrain_hours", 0) * 3600))

    def network(self) -> SequenceModel:
        key = self.key()
        found = self.store.find(key, self.stop, self.reuse_seconds())
        if found is not None:
            logger.info("cross-pair: %s reuses the shared network %s", self.prepared.pair,
                        found.name)
            return self.load(found)
        return self.train(key)

    def load(self, path: Path) -> Any:
        return SequenceModel.load(path)

    def frames(self) -> PairFrames:
        m = self.model
        if m.live:
            return LiveFrames(m.strategy, m.dd, m.data_load_timerange)
        return BacktestFrames(m.strategy, m.populated_frames)

    def prepare_all(self) -> dict[str, PreparedPair]:
        """Every trained pair's rows (the pair at hand's are already prepared)."""
        prepared = {self.prepared.pair: self.prepared} if self.prepared.pair in self.pairs \
            else {}
        frames = self.frames()
        for pair in self.pairs:
            if pair in prepared:
                continue
            dk = FreqaiDataKitchen(self.model.config, self.model.live, pair)
            dk.set_paths(pair, self.stop)
            try:
                frame = frames.training_frame(pair, dk, self.timerange)
                dk.find_features(frame)
                dk.find_labels(frame)
                prepared[pair] = self.model.prepare(frame, pair, dk)
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
                p.classes, p.row_dates, len(p.data["train_features"])))
        return rows

    def canonical(self, prepared: dict[str, PreparedPair]) -> tuple[str, ...]:
        """The shared column order; the pairs' labels must be the same."""
        labels = {pair: p.labels for pair, p in prepared.items()}
        if any(v != self.prepared.labels for v in labels.values()):
            raise OperationalException(f"cross-pair: the pairs' labels differ: {labels}")
        return tuple(check_same_features(
            {pair: p.raw_features for pair, p in prepared.items()}, self.corr))

    def train(self, key: str) -> SequenceModel:
        m, start = self.model, time()
        prepared = self.prepare_all()
        canonical = self.canonical(prepared)
        window, tf_ns = m.seq_cfg.window, m.timeframe_ns
        # Pairs with no complete training window (new listings) are not trained on: they get
        # the "unseen pair" slot like any pair the network never saw.
        vocabulary = tuple(
            pair for pair, p in prepared.items()
            if (pair_window_ends(p.row_dates, window, tf_ns) < len(p.data["train_features"])).any())
        rows = self.rows({pair: prepared[pair] for pair in vocabulary}, vocabulary, canonical)
        pooled = pool_windows(rows, window, tf_ns, m.device)
        logger.info("cross-pair: training the shared network of the window ending %s on %d "
                    "pairs (%s): %d training and %d validation windows, %d features",
                    self.timerange.stop_fmt, len(vocabulary), ", ".join(vocabulary),
                    len(pooled.train_ends), len(pooled.val_ends), len(canonical))
        missing = sorted(set(self.pairs) - set(vocabulary))
        if missing:
            logger.warning("cross-pair: %d pair(s) not in the training of this window: %s",
                           len(missing), ", ".join(missing))
        kwargs = {**self.prepared.fit_kwargs(), "pooled": pooled,
                  "cross": CrossPair(vocabulary, canonical, self.corr),
                  "feature_names": [*canonical, PAIR_ID_COLUMN]}
        network = m.fit(self.prepared.data, self.dk, **kwargs)
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
        m = self.model
        if m.live or not getattr(m, "save_backtest_models", False):
            return
        for pair, dk in self.kitchens.items():
            dk.set_new_model_names(pair, self.stop)
            m.dd.get_pair_dict_info(pair)  # FreqAI's entry for a pair it has not reached yet
            model = m.calibrate(network.for_pair(pair, prepared[pair].tail), prepared[pair], dk)
            m.dd.save_data(model, pair, dk)
            # save_data also keeps the pair's newest model, metadata and pipelines in memory,
            # which FreqAI's backtest loads instead of the files of the window it is at: this
            # window's would then stand in for an earlier window's (look-ahead). From disk only.
            m.dd.meta_data_dictionary.pop(pair, None)
            m.dd.model_dictionary.pop(pair, None)
        logger.info("cross-pair: saved the models and pipelines of %d other pair(s) for this "
                    "window", len(self.kitchens))
