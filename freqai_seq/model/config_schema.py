"""`model_training_parameters` of the sequence models, read and validated once.

Every key, its default and its meaning is listed here and nowhere else; the docs tables are
generated from `KEY_DOCS` (see `freqai-seq keys`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from freqai_seq.errors import FreqaiSeqError

KEY_DOCS: dict[str, str] = {
    "window": "candles per input window; the prediction on row r uses rows r-window+1 .. r",
    "hidden_size": "units per recurrent layer (per direction)",
    "num_layers": "stacked recurrent layers",
    "dropout": "dropout between recurrent layers and in the head",
    "bidirectional": "run each recurrent layer both ways over the window",
    "layer_norm": "layer-normalise the window summary before the head (LSTM and GRU)",
    "head_hidden": "width of the MLP head's hidden layer (one output per `&` label)",
    "epochs": "maximum training epochs",
    "batch_size": "windows per optimiser step",
    "optimizer": "`adamw` (decoupled weight decay), `adam` (L2 weight decay) or `sgd`",
    "learning_rate": "peak learning rate",
    "weight_decay": "weight decay (decoupled for adamw, L2 for adam and sgd)",
    "momentum": "sgd only: momentum",
    "nesterov": "sgd only: Nesterov momentum (needs momentum > 0)",
    "grad_clip": "max global gradient norm (0 disables clipping)",
    "scheduler": "`cosine` (linear warmup then cosine decay per step), `step` (multiply by "
                 "`step_factor` every `step_size` epochs) or `plateau` (halve on a validation "
                 "plateau)",
    "warmup_fraction": "fraction of all steps spent warming up (cosine only)",
    "step_size": "step only: epochs between two cuts of the learning rate",
    "step_factor": "step only: factor of each cut",
    "plateau_patience": "epochs without improvement before the plateau scheduler cuts the rate",
    "curriculum_epochs": "epochs at the start that visit the training windows from easy to "
                         "hard (by the mean absolute scaled label: calm windows first) instead "
                         "of shuffled; 0 = off",
    "expanding_window_start": "a date (`YYYY-MM-DD`): each training uses every candle since "
                              "it (an expanding window) instead of the last "
                              "`train_period_days`, which stays the cap (what FreqAI loads, in "
                              "backtest and live); empty = FreqAI's sliding window (docs: "
                              "Walk-forward, Expanding windows)",
    "early_stopping_patience": "epochs without validation improvement before stopping; the best "
                               "weights are restored (0 disables early stopping)",
    "min_delta": "validation-loss improvement that counts as one",
    "seed": "seeds torch, numpy and random for each training",
    "deterministic": "use deterministic torch kernels (identical results for one seed)",
    "device": "`auto` (mps, then cuda, if torch sees one, else cpu), `cpu`, `cuda` or `mps` "
              "(Apple GPUs; not yet run on Apple hardware by this project)",
    "mixed_precision": "autocast + GradScaler, only ever applied on cuda; off by default because "
                       "it made a training step 1.0 to 1.8 times slower on an H100 for these "
                       "network sizes (docs: Operations, GPU)",
    "inference_batch_size": "windows per forward pass when predicting",
    "loss_weight_return": "loss weight of return (and any other regression) labels",
    "loss_weight_volatility": "loss weight of `&-vol_<h>` and `&-logvar_<h>` labels",
    "loss_weight_regime": "loss weight of the cross-entropy of `&-regime_<h>_*` label groups",
    "loss_weight_quantile": "loss weight of the pinball loss of each `&-q<NN>_<name>` label",
    "volatility_baseline": "`none`, or `har`: volatility outputs start from a HAR-RV forecast "
                           "fitted on each training's rows and the network learns the residual "
                           "(needs the HAR features: freqai_seq.model.har)",
    "mc_dropout_passes": "stochastic forward passes whose spread fills the `&-unc_*` labels "
                         "(0 = off, the columns stay 0)",
    "augment_noise": "training only: std of Gaussian noise added to the scaled input windows",
    "augment_time_jitter": "training only: each earlier step of a window is replaced by a "
                           "neighbour up to this many steps away (the newest step stays)",
    "augment_scale": "training only: each window is multiplied by 1 + U(-s, s)",
    "num_threads": "torch CPU threads of a training; 0 keeps torch's default (a thread per "
                   "core). Of 1, 2 and torch's default, 1 had the lowest worst case on an idle "
                   "machine and beside another CPU-bound process (docs: Results, Scale-out, "
                   "Training threads). Unset in a process started with `OMP_NUM_THREADS`, "
                   "torch keeps that count (the walk-forward's `--training-threads`)",
    "historic_predictions_max_rows": "live only: newest rows of each pair kept in FreqAI's "
                                     "`historic_predictions` (memory and the `.pkl` file; never "
                                     "fewer than the strategy's frame or "
                                     "`fit_live_predictions_candles`); 0 keeps every row",
    "live_training_workers": "live only: pairs retrained at once, each network trained in a "
                             "worker process while the bot keeps predicting (1 = FreqAI's "
                             "single training thread; cross_pair always uses that)",
    "cross_pair": "train one network per window on the windows of every whitelisted pair "
                  "(each scaled by its own FreqAI pipelines) and give every pair that network "
                  "(docs: Cross-pair training)",
    "pair_embedding_dim": "cross_pair only: size of a learned pair embedding appended to every "
                          "candle of a window (0 = the network does not know the pair)",
    "unseen_pair_share": "cross_pair with an embedding: share of training windows whose pair id "
                         "is replaced by the \"unseen pair\" slot, which a pair absent from "
                         "the training gets",
    "cross_pair_pairs": "cross_pair only: the pairs the shared network trains on (empty = the "
                        "current whitelist); a pair outside the list predicts through the "
                        "\"unseen pair\" slot. Keeps the network fixed under a dynamic pairlist "
                        "and in `freqai-seq lookahead`'s one-pair cut runs",
}


def pair_list(value: Any) -> tuple[str, ...]:
    """`cross_pair_pairs`, checked: distinct `BASE/QUOTE` names (also read by the pooled
    LightGBM, whose other keys are LightGBM's own)."""
    pairs = tuple(value or ())
    if not all(isinstance(p, str) and "/" in p for p in pairs) or len(set(pairs)) != len(pairs):
        raise FreqaiSeqError("model_training_parameters.cross_pair_pairs must be a list of "
                             f"distinct pair names like \"BTC/USD\", got {list(pairs)!r}.")
    return pairs


@dataclass(frozen=True)
class SequenceConfig:
    window: int = 24
    # Small on purpose: a 30-day 1h window holds ~600 samples, and on 2 CPU cores the cost of a
    # recurrent step is mostly fixed overhead (see `freqai-seq bench`).
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.1
    bidirectional: bool = False
    layer_norm: bool = True
    head_hidden: int = 32
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    grad_clip: float = 1.0
    scheduler: str = "cosine"
    warmup_fraction: float = 0.1
    step_size: int = 5
    step_factor: float = 0.5
    plateau_patience: int = 2
    curriculum_epochs: int = 0
    expanding_window_start: str = ""
    early_stopping_patience: int = 3
    min_delta: float = 0.0
    seed: int = 42
    deterministic: bool = True
    device: str = "auto"
    mixed_precision: bool = False
    inference_batch_size: int = 1024
    loss_weight_return: float = 1.0
    loss_weight_volatility: float = 0.5
    loss_weight_regime: float = 0.5
    loss_weight_quantile: float = 1.0
    volatility_baseline: str = "none"
    mc_dropout_passes: int = 0
    augment_noise: float = 0.0
    augment_time_jitter: int = 0
    augment_scale: float = 0.0
    # `freqai-seq threads`: more threads made the shipped networks' trainings several times
    # slower as soon as another process used a core (docs/results/scale-out.md)
    num_threads: int = 1
    # 20000 rows: 69 days of 5m candles, 2.3 years of 1h, for `validate` of a live run; FreqAI
    # itself keeps every row forever (a bot's memory and pickle grow by a row per candle).
    historic_predictions_max_rows: int = 20000
    live_training_workers: int = 1
    cross_pair: bool = False
    pair_embedding_dim: int = 0
    unseen_pair_share: float = 0.1
    cross_pair_pairs: tuple = dataclasses.field(default=(), metadata={"items": str})

    def __post_init__(self) -> None:
        positive = ("window", "hidden_size", "num_layers", "head_hidden", "epochs", "batch_size",
                    "inference_batch_size", "live_training_workers", "step_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise FreqaiSeqError(f"model_training_parameters.{name} must be at least 1, "
                                     f"got {getattr(self, name)}.")
        if self.window < 2:
            raise FreqaiSeqError("model_training_parameters.window must be at least 2 candles.")
        if not 0.0 <= self.dropout < 1.0:
            raise FreqaiSeqError(f"model_training_parameters.dropout must be in [0, 1), got "
                                 f"{self.dropout}.")
        if self.learning_rate <= 0:
            raise FreqaiSeqError("model_training_parameters.learning_rate must be positive.")
        for name in ("weight_decay", "grad_clip", "min_delta", "early_stopping_patience",
                     "plateau_patience", "num_threads", "loss_weight_return",
                     "loss_weight_volatility", "loss_weight_regime", "loss_weight_quantile",
                     "mc_dropout_passes",
                     "augment_noise", "augment_time_jitter", "augment_scale",
                     "pair_embedding_dim", "historic_predictions_max_rows", "momentum",
                     "curriculum_epochs"):
            if getattr(self, name) < 0:
                raise FreqaiSeqError(f"model_training_parameters.{name} must not be negative.")
        if self.mc_dropout_passes and self.dropout == 0:
            raise FreqaiSeqError("model_training_parameters.mc_dropout_passes needs dropout > 0: "
                                 "without dropout every pass gives the same output.")
        if self.cross_pair_pairs and not self.cross_pair:
            raise FreqaiSeqError("model_training_parameters.cross_pair_pairs needs cross_pair: "
                                 "true.")
        pair_list(self.cross_pair_pairs)
        if not 0.0 <= self.unseen_pair_share < 1.0:
            raise FreqaiSeqError("model_training_parameters.unseen_pair_share must be in [0, 1).")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise FreqaiSeqError("model_training_parameters.warmup_fraction must be in [0, 1).")
        if self.scheduler not in ("cosine", "step", "plateau"):
            raise FreqaiSeqError(f"model_training_parameters.scheduler must be 'cosine', "
                                 f"'step' or 'plateau', got {self.scheduler!r}.")
        if self.optimizer not in ("adamw", "adam", "sgd"):
            raise FreqaiSeqError(f"model_training_parameters.optimizer must be 'adamw', 'adam' "
                                 f"or 'sgd', got {self.optimizer!r}.")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise FreqaiSeqError("model_training_parameters.nesterov needs optimizer 'sgd' and "
                                 "momentum > 0.")
        if not 0.0 < self.step_factor <= 1.0:
            raise FreqaiSeqError("model_training_parameters.step_factor must be in (0, 1].")
        self.expanding_start()  # a date or empty
        if self.volatility_baseline not in ("none", "har"):
            raise FreqaiSeqError(f"model_training_parameters.volatility_baseline must be 'none' "
                                 f"or 'har', got {self.volatility_baseline!r}.")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise FreqaiSeqError(f"model_training_parameters.device must be 'auto', 'cpu', "
                                 f"'cuda' or 'mps', got {self.device!r}.")

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> SequenceConfig:
        """Build from a config dict; an unknown key or a value of the wrong type is an error."""
        params = dict(params or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise FreqaiSeqError(
                f"Unknown model_training_parameters {unknown} for a sequence model; known keys: "
                f"{', '.join(sorted(known))}."
            )
        values: dict[str, Any] = {}
        for name, value in params.items():
            default = known[name].default
            expected = type(default)
            if expected is tuple:
                items = known[name].metadata.get("items", int)
                ok = isinstance(value, list | tuple) and all(
                    isinstance(v, items) and not isinstance(v, bool) for v in value)
                value = tuple(value) if ok else value
            elif expected is bool:
                ok = isinstance(value, bool)
            elif expected is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            else:
                ok = isinstance(value, expected) and not (expected is int and
                                                          isinstance(value, bool))
            if not ok:
                kind = (f"a list of {known[name].metadata.get('items', int).__name__}"
                        if expected is tuple else expected.__name__)
                raise FreqaiSeqError(
                    f"model_training_parameters.{name} must be {kind}, got {value!r}."
                )
            values[name] = float(value) if expected is float else value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def expanding_start(self) -> datetime | None:
        """`expanding_window_start` as a UTC date, None when the window slides."""
        if not self.expanding_window_start:
            return None
        text = self.expanding_window_start
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                pass
        raise FreqaiSeqError("model_training_parameters.expanding_window_start must be a date "
                             f"like \"2019-01-31\" (or empty), got {text!r}.")


HYBRID_KEY_DOCS: dict[str, str] = {
    "conv_kernels": "kernel sizes of the parallel causal Conv1d branches in each block",
    "conv_channels": "output channels per branch (a block outputs branches x channels)",
    "conv_blocks": "stacked convolution blocks (each: branches, GELU, layer norm, residual)",
    "attention_heads": "heads of the self-attention over the LSTM outputs",
    "attention_dim": "width of the attention layer; must be divisible by attention_heads",
    "pool_horizons": "look-back horizons (in candles, each at most `window`) whose mean "
                     "attended states are concatenated for the heads",
}


@dataclass(frozen=True)
class HybridConfig(SequenceConfig):
    """Keys of the CNN + LSTM + attention network, on top of every sequence-model key."""

    conv_kernels: tuple = (3, 5)
    conv_channels: int = 16
    conv_blocks: int = 1
    attention_heads: int = 4
    attention_dim: int = 32
    pool_horizons: tuple = (6, 12, 24)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("conv_channels", "conv_blocks", "attention_heads", "attention_dim"):
            if getattr(self, name) < 1:
                raise FreqaiSeqError(f"model_training_parameters.{name} must be at least 1, "
                                     f"got {getattr(self, name)}.")
        if not self.conv_kernels or any(k < 1 for k in self.conv_kernels):
            raise FreqaiSeqError("model_training_parameters.conv_kernels must be a non-empty "
                                 f"list of positive sizes, got {list(self.conv_kernels)}.")
        if self.attention_dim % self.attention_heads:
            raise FreqaiSeqError(
                f"model_training_parameters.attention_heads ({self.attention_heads}) must "
                f"divide attention_dim ({self.attention_dim})."
            )
        if not self.pool_horizons:
            raise FreqaiSeqError("model_training_parameters.pool_horizons must not be empty.")
        too_long = [h for h in self.pool_horizons if not 1 <= h <= self.window]
        if too_long:
            raise FreqaiSeqError(
                f"model_training_parameters.pool_horizons {too_long} must lie between 1 and "
                f"the window ({self.window} candles)."
            )
