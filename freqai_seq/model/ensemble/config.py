"""The ensemble's own `model_training_parameters` keys; every other key configures the network
(see `freqai-seq keys`). Documented in ENSEMBLE_KEY_DOCS (the docs table is generated from it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model.networks import NETWORKS

ENSEMBLE_KEY_DOCS: dict[str, str] = {
    "network": "the sequence network: `lstm`, `gru` or `cnn_lstm_attention`",
    "lightgbm": "options passed to `lightgbm.LGBMRegressor` (e.g. `n_estimators`, "
                "`learning_rate`, `num_leaves`), merged over these defaults; `random_state` is "
                "the training `seed`, deterministic and row-wise",
    "lightgbm_early_stopping_rounds": "LightGBM stops when the inner validation loss has not "
                                      "improved for this many rounds (0 disables)",
    "ensemble_validation_fraction": "the last share of the training part both bases use for "
                                    "early stopping; the stacking tail is FreqAI's test split",
    "ensemble_window_summaries": "LightGBM also sees the mean and std of every feature over "
                                 "the window, not only the current row",
    "ensemble_embedding": "LightGBM also sees the network's window summary vector",
    "ensemble_disagreement_do_predict": "set do_predict to 0 where the bases disagree in sign "
                                        "on a label that has an `&-agree_` column",
    "ensemble_dynamic_candles": "weight the bases by the inverse of their squared error over "
                                "the last N candles whose outcome is known and that came after "
                                "the model's training (0 = the fixed stacking weights)",
    "ensemble_stack_shrinkage": "pull the stacking weights towards equal weights, as if this "
                                "share of extra held-out rows said so (0 = plain non-negative "
                                "least squares, whose weights can far exceed 1)",
    "ensemble_stack_max_weight": "cap on each stacking weight (0 = no cap)",
}
LIGHTGBM_DEFAULTS: dict[str, Any] = {"n_estimators": 300, "learning_rate": 0.05,
                                     "num_leaves": 15, "min_child_samples": 20,
                                     "subsample": 1.0, "colsample_bytree": 0.8}


@dataclass(frozen=True)
class EnsembleConfig:
    network: str = "lstm"
    lightgbm: dict[str, Any] = field(default_factory=dict)
    lightgbm_early_stopping_rounds: int = 30
    ensemble_validation_fraction: float = 0.2
    ensemble_window_summaries: bool = True
    ensemble_embedding: bool = False
    ensemble_disagreement_do_predict: bool = False
    ensemble_dynamic_candles: int = 0
    ensemble_stack_shrinkage: float = 0.1  # chosen on the selection period (docs: Ensemble)
    ensemble_stack_max_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise FreqaiSeqError(f"model_training_parameters.network must be one of "
                                 f"{sorted(NETWORKS)}, got {self.network!r}.")
        if not 0.05 <= self.ensemble_validation_fraction <= 0.5:
            raise FreqaiSeqError("model_training_parameters.ensemble_validation_fraction must "
                                 "be between 0.05 and 0.5.")
        if self.ensemble_dynamic_candles < 0:
            raise FreqaiSeqError("model_training_parameters.ensemble_dynamic_candles must not be "
                                 "negative.")
        if self.ensemble_stack_shrinkage < 0 or self.ensemble_stack_max_weight < 0:
            raise FreqaiSeqError("model_training_parameters.ensemble_stack_shrinkage and "
                                 "ensemble_stack_max_weight must not be negative.")
        if self.lightgbm_early_stopping_rounds < 0:
            raise FreqaiSeqError("model_training_parameters.lightgbm_early_stopping_rounds must "
                                 "not be negative.")

    @property
    def lightgbm_params(self) -> dict[str, Any]:
        return {**LIGHTGBM_DEFAULTS, **self.lightgbm}

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ENSEMBLE_KEY_DOCS}


def split_params(params: dict[str, Any]) -> tuple[EnsembleConfig, dict[str, Any]]:
    """(the ensemble's keys, the network's keys) of `model_training_parameters`."""
    own = {k: params.pop(k) for k in list(params) if k in ENSEMBLE_KEY_DOCS}
    types = {"network": str, "lightgbm": dict, "lightgbm_early_stopping_rounds": int,
             "ensemble_validation_fraction": (int, float), "ensemble_window_summaries": bool,
             "ensemble_embedding": bool, "ensemble_disagreement_do_predict": bool,
             "ensemble_dynamic_candles": int, "ensemble_stack_shrinkage": (int, float),
             "ensemble_stack_max_weight": (int, float)}
    for key, value in own.items():
        if not isinstance(value, types[key]) or (types[key] is int and isinstance(value, bool)):
            raise FreqaiSeqError(f"model_training_parameters.{key} has the wrong type: "
                                 f"{value!r}.")
    for key in ("ensemble_validation_fraction", "ensemble_stack_shrinkage",
                "ensemble_stack_max_weight"):
        if key in own:
            own[key] = float(own[key])
    return EnsembleConfig(**own), params
