"""Arms and periods of `freqai-seq skill`, kept apart from the runner so the CLI parser can list
them without importing torch."""

from __future__ import annotations

import re
from dataclasses import dataclass

from freqai_seq.errors import FreqaiSeqError

# Settings are chosen on the selection period only; the reported period is scored once with the
# chosen settings (docs: Results, Skill). The bundled candles' dates: another data folder passes
# its own (`timerange` of skill.run and forecast_skill.run).
PERIODS = {"selection": "20180701-20181231", "report": "20190101-20191001"}
HORIZON_HOURS = 12
SHORT = {"PyTorchLSTMRegressor": "lstm", "PyTorchGRURegressor": "gru",
         "PyTorchCNNLSTMAttentionRegressor": "hybrid", "LightGBMRegressor": "lightgbm",
         "PyTorchMLPRegressor": "mlp", "LSTMLightGBMEnsembleRegressor": "ensemble"}
SEQUENCE = ("PyTorchLSTMRegressor", "PyTorchGRURegressor", "PyTorchCNNLSTMAttentionRegressor",
            "LSTMLightGBMEnsembleRegressor")
PAIR_EMBEDDING_DIM = 4  # cross-pair arms: fixed beforehand, not tuned


@dataclass(frozen=True)
class Arm:
    model: str
    cross: bool = False
    timeframe: str = "1h"
    train_days: int = 30
    volatility: str = "vol"  # a key of VOLATILITY_OPTIONS (only the interval strategy reads it)
    training: str = ""  # a key of TRAINING_OPTIONS, or the default training

    @property
    def name(self) -> str:
        suffix = "" if self.volatility == "vol" else f"-{self.volatility}"
        suffix += f"-{self.training}" if self.training else ""
        return (f"{SHORT[self.model]}-{'cross' if self.cross else 'pair'}-{self.timeframe}-"
                f"{self.train_days}d{suffix}")

    @property
    def freqaimodel(self) -> str:
        """The FreqAI model class; LightGBM pooled over the pairs has its own."""
        if self.model == "LightGBMRegressor" and self.cross:
            return "LightGBMCrossPairRegressor"
        return self.model

    @property
    def candles_per_hour(self) -> int:
        return {"1h": 1, "30m": 2}[self.timeframe]


# The volatility label (freqai.feature_parameters.volatility_label) and model key
# volatility_baseline of each arm volatility option.
VOLATILITY_OPTIONS = {"vol": ("vol", "none"), "logvar": ("logvar", "none"),
                      "logvar_har": ("logvar", "har")}
# Training options against the default training, each fixed before any run: the curriculum for
# the first 3 of the 10 epochs; an expanding window that starts where the arm's first sliding
# window starts (the period's start minus its training days) and grows week by week, capped at
# EXPANDING_CAP_DAYS (FreqAI's train_period_days of the arm): about the most the bundled candles
# hold before the selection period (273 days, less freqtrade's startup candles).
CURRICULUM_EPOCHS = 3
EXPANDING_CAP_DAYS = 260
TRAINING_OPTIONS = ("curriculum", "expanding")


def parse_arm(name: str) -> Arm:
    """`lstm-cross-1h-90d` -> Arm(PyTorchLSTMRegressor, cross, 1h, 90 days); optional further
    parts name a volatility option (`lstm-cross-1h-180d-logvar_har`) and then a training option
    (`lstm-cross-1h-180d-expanding`)."""
    model_of = {short: model for model, short in SHORT.items()}
    parts = name.split("-")
    named = set(VOLATILITY_OPTIONS) - {"vol"}  # the default is not named
    volatility = parts.pop(4) if len(parts) > 4 and parts[4] in named else "vol"
    training = parts.pop(4) if len(parts) > 4 and parts[4] in TRAINING_OPTIONS else ""
    if (len(parts) != 4 or parts[0] not in model_of
            or parts[1] not in ("pair", "cross") or parts[2] not in ("1h", "30m")
            or not re.fullmatch(r"\d+d", parts[3])):
        raise FreqaiSeqError(
            f"Arm {name!r} is not <model>-<pair|cross>-<1h|30m>-<days>d[-<volatility>]"
            f"[-<training>] with a model among {sorted(model_of)}, a volatility option among "
            f"{sorted(named)} and a training option among "
            f"{list(TRAINING_OPTIONS)} (e.g. lstm-cross-1h-90d).")
    if training and model_of[parts[0]] not in SEQUENCE:
        raise FreqaiSeqError(f"Arm {name!r}: training options are for the sequence models "
                             f"({', '.join(SHORT[m] for m in SEQUENCE)}).")
    return Arm(model_of[parts[0]], parts[1] == "cross", parts[2], int(parts[3][:-1]),
               volatility, training)


LSTM = "PyTorchLSTMRegressor"
# Stage 1: the training length and timeframe, with the LSTM per pair and cross-pair.
STAGE1 = tuple(Arm(LSTM, cross, tf, days) for tf, days in
               (("1h", 30), ("1h", 90), ("1h", 180), ("30m", 30), ("30m", 90))
               for cross in (False, True))
# FreqAI's own models per pair at its usual 30 days: the baselines every arm is compared with.
BASELINES = (Arm("LightGBMRegressor"), Arm("PyTorchMLPRegressor"))
# What stage 1 chose on the selection period (docs: Results, Skill): 1h candles, 180 training days.
CHOSEN_TIMEFRAME, CHOSEN_DAYS = "1h", 180


def stage2(timeframe: str, train_days: int) -> tuple[Arm, ...]:
    """The other models at the setting stage 1 chose: every sequence model cross-pair, the LSTM
    and FreqAI's LightGBM per pair, and LightGBM pooled over the pairs."""
    return (*(Arm(m, True, timeframe, train_days) for m in SEQUENCE),
            Arm(LSTM, False, timeframe, train_days),
            Arm("LightGBMRegressor", False, timeframe, train_days),
            Arm("LightGBMRegressor", True, timeframe, train_days))


def _unique(arms: tuple[Arm, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.name for a in arms))


STAGE2 = stage2(CHOSEN_TIMEFRAME, CHOSEN_DAYS)
DEFAULT_ARMS = {
    "selection": _unique((*BASELINES, *STAGE1, *STAGE2)),
    # run once: the baselines, the per-pair LSTM as it was the default, and stage 2
    "report": _unique((*BASELINES, Arm(LSTM), *STAGE2)),
}
