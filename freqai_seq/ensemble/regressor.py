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

from freqai_seq.config_schema import SequenceConfig
from freqai_seq.ensemble.config import EnsembleConfig, split_params
from freqai_seq.ensemble.model import EnsembleModel
from freqai_seq.ensemble.stacking import fit_stack
from freqai_seq.networks import NETWORKS
from freqai_seq.regressor import SequenceRegressor
from freqai_seq.tasks import TaskLayout

logger = logging.getLogger(__name__)

MIN_STACK_ROWS = 24


class EnsembleRegressor(SequenceRegressor):
    fills_agreement: ClassVar[bool] = True

    def parse_params(self, params: dict[str, Any]) -> SequenceConfig:
        self.ens_cfg: EnsembleConfig
        self.ens_cfg, rest = split_params(params)
        self.network = self.ens_cfg.network
        return NETWORKS[self.network].config_class.from_params(rest)

    @property
    def embargo(self) -> int:
        return int(self.freqai_info.get("feature_parameters", {}).get("label_period_candles", 0))

    def fit(self, data_dictionary: dict[str, Any], dk: FreqaiDataKitchen,
            **kwargs: Any) -> EnsembleModel:
        data = self.windowed_data(data_dictionary, dk, kwargs)
        n_train, embargo = len(data_dictionary["train_features"]), self.embargo
        stack_ends = data.val_ends[data.val_ends >= n_train + embargo]
        if len(stack_ends) < MIN_STACK_ROWS:
            raise OperationalException(
                f"{dk.pair}: the ensemble fits its stacking weights on FreqAI's test split, which "
                f"has {len(stack_ends)} usable windows after a {embargo}-candle embargo (at least "
                f"{MIN_STACK_ROWS} needed): raise data_split_parameters.test_size.")
        n_inner = max(1, round(len(data.train_ends) * self.ens_cfg.ensemble_validation_fraction))
        inner_ends = data.train_ends[-n_inner:]
        base_ends = data.train_ends[data.train_ends < inner_ends[0] - embargo]
        if len(base_ends) < MIN_STACK_ROWS:
            raise OperationalException(f"{dk.pair}: too few windows left to train the bases "
                                       f"({len(base_ends)}); lengthen train_period_days.")
        model: EnsembleModel = self.new_model(EnsembleModel, data_dictionary, dk, kwargs)
        model.ensemble = self.ens_cfg
        self.train_net(model, data, base_ends, inner_ends, dk, kwargs)
        model.net.eval()
        layout: TaskLayout = kwargs["layout"]
        inputs = {name: model.lightgbm_inputs(data.features, ends) for name, ends in
                  (("base", base_ends), ("inner", inner_ends), ("stack", stack_ends))}
        net_stack = model.predict_windows(data.features, stack_ends)
        for j in layout.return_idx + layout.volatility_idx:
            booster = self._fit_booster(inputs, data.targets[:, j], data.weights,
                                        base_ends, inner_ends)
            model.boosters[j] = booster
            boosted = booster.predict(inputs["stack"])
            model.stack[j] = fit_stack(np.column_stack([net_stack[:, j], boosted]),
                                       data.targets[stack_ends, j])
            logger.info("%s %s: stacking weights network %.3f, LightGBM %.3f, intercept %.4f "
                        "(%d held-out windows)", dk.pair, dk.label_list[j], *model.stack[j],
                        len(stack_ends))
        dates = data.dates_ns
        model.train_info = {
            "base_last_ns": int(dates[base_ends[-1]]),
            "inner_first_ns": int(dates[inner_ends[0]]),
            "inner_last_ns": int(dates[inner_ends[-1]]),
            "stack_first_ns": int(dates[stack_ends[0]]), "stack_rows": len(stack_ends),
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

    def fill_agreement(self, pred_df: DataFrame, layout: TaskLayout, dk: FreqaiDataKitchen,
                       predicted: np.ndarray) -> np.ndarray:
        usable = np.ones(len(pred_df), dtype=bool)
        if not layout.agreement_of:
            return usable
        net_out, boosted = self.model.last_parts
        net = self.to_label_units(net_out, layout, dk).to_numpy()
        gbm = self.to_label_units(np.where(np.isnan(boosted), net_out, boosted), layout,
                                  dk).to_numpy()
        for column, source in layout.agreement_of.items():
            agree = np.sign(net[:, source]) == np.sign(gbm[:, source])
            pred_df[dk.label_list[column]] = np.where(predicted, agree.astype(float), np.nan)
            if self.ens_cfg.ensemble_disagreement_do_predict:
                usable &= agree
        return usable
