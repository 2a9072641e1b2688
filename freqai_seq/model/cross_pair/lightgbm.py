"""Pooled cross-pair LightGBM: FreqAI's LightGBMRegressor, but one model per window fitted on
every pair's rows, each scaled by the pair's own pipelines and lined up the cross-pair way.
The baseline that says whether a cross-pair network's gain comes from the network or only from
the pooled data. Same store, key and reuse rules as the shared networks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from time import time
from typing import Any

import cloudpickle
import numpy as np
from freqtrade.exceptions import OperationalException
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from freqtrade.freqai.prediction_models.LightGBMRegressor import LightGBMRegressor
from lightgbm import LGBMRegressor
from pandas import DataFrame

from freqai_seq.atomic import atomic_writer
from freqai_seq.model.cross_pair.columns import align_scaled
from freqai_seq.model.cross_pair.hooks import CrossPairHooks
from freqai_seq.model.cross_pair.trainer import CrossPairContext, CrossPairTrainer, PairPreparer
from freqai_seq.model.pair_rows import MIN_PIPELINE_ROWS, scaled_rows
from freqai_seq.model.training_job import PreparedPair
from freqai_seq.model.window_coverage import CoveredWindows
from freqai_seq.run_fingerprint import RunGuard

logger = logging.getLogger(__name__)

FORMAT = "freqai-seq/pooled-lightgbm-1"


@dataclass
class PooledBooster:
    """The window's pooled model and its column order; `pair` binds it to one pair."""

    model: LGBMRegressor
    columns: tuple[str, ...]
    corr_pairs: tuple[str, ...]
    pair: str = ""

    def predict(self, features: DataFrame) -> np.ndarray:
        """FreqAI hands the pair's scaled features, named as FreqAI names them."""
        return self.model.predict(align_scaled(features, self.pair, list(self.columns),
                                               self.corr_pairs))


class PooledLightGBMTrainer(CrossPairTrainer[PooledBooster]):
    suffix = ".pkl"

    def __init__(self, context: CrossPairContext, prepared: PreparedPair,
                 dk: FreqaiDataKitchen, preparer: PairPreparer,
                 params: dict[str, Any]) -> None:
        """`params`: the model's model_training_parameters (LightGBM's, and ours)."""
        super().__init__(context, prepared, dk, preparer)
        self.params = params

    def load(self, path: Path) -> PooledBooster:
        with path.open("rb") as fh:
            return cloudpickle.load(fh)

    def _stack(self, prepared: dict[str, PreparedPair], part: str,
               canonical: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frames = [(pair, p.data) for pair, p in prepared.items()
                  if part == "train" or p.has_test]
        x = np.concatenate([align_scaled(d[f"{part}_features"], pair, list(canonical),
                                         self.corr) for pair, d in frames])
        y = np.concatenate([d[f"{part}_labels"].to_numpy(np.float64) for _, d in frames])
        w = np.concatenate([np.asarray(d[f"{part}_weights"], np.float64) for _, d in frames])
        return x, y[:, 0], w

    def train(self, key: str) -> PooledBooster:
        start = time()
        prepared = self.prepare_all()
        canonical = self.canonical(prepared)
        if len(self.prepared.labels) != 1:
            raise OperationalException(
                f"The pooled LightGBM fits one label, got {self.prepared.labels}.")
        x, y, w = self._stack(prepared, "train", canonical)
        fit: dict[str, Any] = {"sample_weight": w}
        if any(p.has_test for p in prepared.values()):
            xt, yt, wt = self._stack(prepared, "test", canonical)
            fit.update(eval_set=[(xt, yt)], eval_sample_weight=[wt])
        logger.info("cross-pair: training the pooled LightGBM of the window ending %s on %d "
                    "pairs (%s): %d rows, %d features", self.timerange.stop_fmt,
                    len(prepared), ", ".join(prepared), len(x), len(canonical))
        model = LGBMRegressor(**{k: v for k, v in self.params.items()
                                 if k != "cross_pair_pairs"})  # ours, not LightGBM's
        model.fit(x, y, **fit)
        entry = PooledBooster(model, canonical, self.corr)
        path = self.store.path(key, self.stop, self.suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as fh:
            cloudpickle.dump(entry, fh)
        logger.info("cross-pair: pooled LightGBM saved as %s (%.2f secs)", path.name,
                    time() - start)
        return entry


class PooledLightGBMRegressor(RunGuard, CoveredWindows, CrossPairHooks, LightGBMRegressor):
    """FreqAI's LightGBMRegressor with one model per window for all pairs."""

    def pools_pairs(self, config: dict[str, Any] | None = None) -> bool:
        return True

    def train(self, unfiltered_df: DataFrame, pair: str, dk: FreqaiDataKitchen,
              **kwargs: Any) -> PooledBooster:
        logger.info("-------------------- Starting training %s --------------------", pair)
        start = time()
        prepared = self.prepare(unfiltered_df, pair, dk)
        context = self.cross_pair_context(pair, {"format": FORMAT})
        pooled = PooledLightGBMTrainer(context, prepared, dk, self,
                                       self.model_training_parameters).network()
        logger.info("-------------------- Done training %s (%.2f secs) --------------------",
                    pair, time() - start)
        return PooledBooster(pooled.model, pooled.columns, pooled.corr_pairs, pair)

    def prepare(self, unfiltered_df: DataFrame, pair: str,
                dk: FreqaiDataKitchen) -> PreparedPair:
        rows = scaled_rows(self, unfiltered_df, pair, dk, MIN_PIPELINE_ROWS, "its pipelines")
        return PreparedPair(pair, rows.data, rows.row_dates, None, None,
                            np.zeros((len(rows.row_dates), 0), np.int64), rows.has_test,
                            list(dk.training_features_list), list(dk.label_list))
