"""FreqAI model that stacks a sequence network with LightGBM.

Within each training window (chronological, as FreqAI splits it):

    | base training | inner validation | (embargo) | stacking tail = FreqAI's test split |
      both bases fit  both stop early     h candles   the meta-model fits here only

The bases are kept as fitted on the first part (not refit on everything), so the stacking
weights describe exactly the models that predict. An embargo of `label_period_candles` rows
keeps the labels of one part from reaching into the prices of the next.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
from freqtrade.exceptions import OperationalException
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from freqai_seq.labels import label_horizon
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.model.ensemble.config import EnsembleConfig, split_params
from freqai_seq.model.ensemble.model import BaseOutputs, EnsembleModel
from freqai_seq.model.ensemble.stacking import fit_stack
from freqai_seq.model.model_inputs import ModelInputs, dates_ns
from freqai_seq.model.networks import NETWORKS
from freqai_seq.model.regressor import SequenceRegressor
from freqai_seq.model.seeding import seed_everything
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.model.tasks import TaskLayout, parse_labels
from freqai_seq.model.training import WindowedData
from freqai_seq.model.training_job import TrainingJob

logger = logging.getLogger(__name__)

MIN_STACK_ROWS = 24


class EnsembleRegressor(SequenceRegressor):
    fills_agreement: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.ens_cfg.ensemble_dynamic_candles and self.embargo < 1:
            raise OperationalException(
                "ensemble_dynamic_candles needs freqai.feature_parameters.label_period_candles "
                "(how many candles later an outcome is known) to be at least 1.")
        if self.ens_cfg.ensemble_dynamic_candles:
            # Live predict() must see every row whose error weights the bases, with its window.
            self.CONV_WIDTH = (self.seq_cfg.window + self.ens_cfg.ensemble_dynamic_candles
                               + self.embargo - 1)

    def parse_params(self, params: dict[str, Any]) -> SequenceConfig:
        self.ens_cfg: EnsembleConfig
        self.ens_cfg, rest = split_params(params)
        self.network = self.ens_cfg.network
        return NETWORKS[self.network].config_class.from_params(rest)

    @property
    def embargo(self) -> int:
        """Candles until a label's outcome is known: `label_period_candles`."""
        return int(self.freqai_info.get("feature_parameters", {}).get("label_period_candles", 0))

    def _check_horizons(self, labels: list[str], layout: TaskLayout, pair: str) -> None:
        """The embargo and the dynamic weights assume every outcome is known
        `label_period_candles` later; a longer label would leak into both."""
        longer = [name for name in labels if (h := label_horizon(name)) and h > self.embargo]
        if longer:
            raise OperationalException(
                f"{pair}: labels {longer} look further ahead than label_period_candles "
                f"({self.embargo}): the ensemble's embargo and dynamic weights use that period; "
                "raise it.")
        bad = [labels[c] for c, src in layout.agreement_of.items()
               if src not in layout.return_idx]
        if bad:
            raise OperationalException(f"{pair}: {bad} must describe a return label (`&-ret_*`): "
                                       "only regression labels have two bases to compare.")

    def fit(self, job: TrainingJob) -> EnsembleModel:  # type: ignore[override]
        labels = job.prepared.labels
        self._check_horizons(labels, job.layout, job.pair)
        generator = seed_everything(self.seq_cfg.seed, self.seq_cfg.deterministic)
        data = self.windowed_data(job)
        embargo = self.embargo
        base_ends, inner_ends, stack_ends = split_windows(
            data, self.ens_cfg.ensemble_validation_fraction, embargo)
        if len(stack_ends) < MIN_STACK_ROWS:
            raise OperationalException(
                f"{job.pair}: the ensemble fits its stacking weights on FreqAI's test split, "
                f"which has {len(stack_ends)} usable windows after a {embargo}-candle embargo "
                f"(at least {MIN_STACK_ROWS} needed): raise data_split_parameters.test_size.")
        if len(base_ends) < MIN_STACK_ROWS:
            raise OperationalException(f"{job.pair}: too few windows left to train the bases "
                                       f"({len(base_ends)}); lengthen train_period_days.")
        model = self.new_model(EnsembleModel, job)
        model.ensemble = self.ens_cfg
        self.train_net(model, data, base_ends, inner_ends, job, generator)
        model.net.eval()
        inputs = {name: model.lightgbm_inputs(data.features, ends) for name, ends in
                  (("base", base_ends), ("inner", inner_ends), ("stack", stack_ends))}
        net_stack = model.predict_windows(data.features, stack_ends)
        for j in job.layout.return_idx + job.layout.volatility_idx:
            booster = self._fit_booster(inputs, data.targets[:, j], data.weights,
                                        base_ends, inner_ends)
            model.boosters[j] = booster
            boosted = booster.predict(inputs["stack"])
            model.stack[j] = fit_stack(np.column_stack([net_stack[:, j], boosted]),
                                       data.targets[stack_ends, j],
                                       self.ens_cfg.ensemble_stack_shrinkage,
                                       self.ens_cfg.ensemble_stack_max_weight)
            logger.info("%s %s: stacking weights network %.3f, LightGBM %.3f, intercept %.4f "
                        "(%d held-out windows)", job.pair, labels[j], *model.stack[j],
                        len(stack_ends))
        dates = data.dates_ns
        model.train_info = {
            "base_last_ns": int(dates[base_ends].max()),
            "inner_first_ns": int(dates[inner_ends].min()),
            "inner_last_ns": int(dates[inner_ends].max()),
            "stack_first_ns": int(dates[stack_ends].min()), "stack_rows": len(stack_ends),
            "embargo_candles": embargo}
        return model

    def _fit_booster(self, inputs: dict[str, np.ndarray], target: np.ndarray,
                     weights: np.ndarray, base_ends: np.ndarray,
                     inner_ends: np.ndarray) -> lgb.Booster:
        params = {"random_state": self.seq_cfg.seed, "deterministic": True,
                  "force_row_wise": True, "verbose": -1, **self.ens_cfg.lightgbm_params}
        rounds = self.ens_cfg.lightgbm_early_stopping_rounds
        regressor = lgb.LGBMRegressor(**params)
        regressor.fit(inputs["base"], target[base_ends], sample_weight=weights[base_ends],
                      eval_X=(inputs["inner"],), eval_y=(target[inner_ends],),
                      callbacks=[lgb.early_stopping(rounds, verbose=False)] if rounds else None)
        return regressor.booster_

    def predict(self, unfiltered_df: DataFrame, dk: FreqaiDataKitchen,
                **kwargs: Any) -> tuple[DataFrame, Any]:
        pred_df, do_predict, bases = self.predict_with_bases(unfiltered_df, dk)
        if self.ens_cfg.ensemble_dynamic_candles:
            assert bases is not None
            self._weight_by_recent_error(pred_df, unfiltered_df, dk, bases)
        return pred_df, do_predict

    def model_outputs(self, model: SequenceModel, inputs: ModelInputs, passes: int
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, BaseOutputs]:
        assert isinstance(model, EnsembleModel)
        return model.predict_with_bases(inputs.features, inputs.dates_ns, inputs.finite,
                                        passes)

    def _weight_by_recent_error(self, pred_df: DataFrame, frame: DataFrame,
                                dk: FreqaiDataKitchen, bases: BaseOutputs) -> None:
        """Row r blends the bases by the inverse of their mean squared error on rows
        r-h-N+1 .. r-h (h = label_period_candles: their outcome is known at r) that came after
        the model's training: out-of-sample errors, the same in backtest and live. Rows with
        fewer than N/2 such errors keep the fixed stacking weights."""
        model: EnsembleModel = self.model
        net_out, boosted = bases.net, bases.boosted
        layout = parse_labels(list(dk.label_list))
        skip = len(net_out) - len(pred_df)  # the prepended training tail
        net = self.to_label_units(net_out, layout, dk).to_numpy()[skip:]
        gbm = self.to_label_units(np.where(np.isnan(boosted), net_out, boosted), layout,
                                  dk).to_numpy()[skip:]
        # After the training frame's last candle (labelled or not): what a backtest window holds.
        after = dates_ns(frame["date"]) > int(model.tail.dates_ns[-1])
        n, h = self.ens_cfg.ensemble_dynamic_candles, self.embargo
        for j, booster in enumerate(model.boosters):
            label = dk.label_list[j]
            if booster is None or label not in frame:
                continue
            realized = frame[label].to_numpy(np.float64)
            errors = [(net[:, j] - realized) ** 2, (gbm[:, j] - realized) ** 2]
            known = after & np.isfinite(errors[0]) & np.isfinite(errors[1])
            count = _trailing_sum(known.astype(float), n, h)
            enough = count >= max(1, n // 2)
            with np.errstate(divide="ignore", invalid="ignore"):
                mse = [np.clip(_trailing_sum(np.where(known, e, 0.0), n, h), 0, None) / count
                       for e in errors]
                # Inverse-MSE weights, written so a perfect base gets all the weight.
                w_net = mse[1] / (mse[0] + mse[1])
            w_net = np.where(np.isfinite(w_net), w_net, 0.5)  # both perfect: equal weights
            blended = w_net * net[:, j] + (1 - w_net) * gbm[:, j]
            pred_df[label] = np.where(enough & np.isfinite(blended), blended, pred_df[label])

    def fill_agreement(self, pred_df: DataFrame, layout: TaskLayout, dk: FreqaiDataKitchen,
                       predicted: np.ndarray, bases: BaseOutputs | None) -> np.ndarray:
        usable = np.ones(len(pred_df), dtype=bool)
        if not layout.agreement_of:
            return usable
        assert bases is not None
        net_out, boosted = bases.net, bases.boosted
        net = self.to_label_units(net_out, layout, dk).to_numpy()
        gbm = self.to_label_units(np.where(np.isnan(boosted), net_out, boosted), layout,
                                  dk).to_numpy()
        for column, source in layout.agreement_of.items():
            agree = np.sign(net[:, source]) == np.sign(gbm[:, source])
            pred_df[dk.label_list[column]] = np.where(predicted, agree.astype(float), np.nan)
            if self.ens_cfg.ensemble_disagreement_do_predict:
                usable &= agree
        return usable


def split_windows(data: WindowedData, validation_fraction: float,
                  embargo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base-training, inner-validation and stacking window ends, cut in time within each pair
    (a cross-pair set holds several): | base | inner | embargo | stack (FreqAI's test split)."""
    base, inner, stack = [], [], []
    for lo, hi, n_train in data.pair_segments():
        train = data.train_ends[(data.train_ends >= lo) & (data.train_ends < hi)]
        val = data.val_ends[(data.val_ends >= lo) & (data.val_ends < hi)]
        stack.append(val[val >= lo + n_train + embargo])
        if len(train):
            own_inner = train[-max(1, round(len(train) * validation_fraction)):]
            inner.append(own_inner)
            base.append(train[train < own_inner[0] - embargo])
    empty = np.empty(0, np.int64)
    return tuple(np.concatenate(part) if part else empty  # type: ignore[return-value]
                 for part in (base, inner, stack))


def _trailing_sum(values: np.ndarray, n: int, lag: int) -> np.ndarray:
    """Per row r: the sum of values[r-lag-n+1 .. r-lag] (rows before 0 count as 0)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    rows = np.arange(len(values))
    hi = np.clip(rows - lag + 1, 0, len(values))
    lo = np.clip(rows - lag - n + 1, 0, len(values))
    return cumulative[hi] - cumulative[lo]
