"""Search spaces of `freqai-seq tune`: the defaults per network, a JSON override, sampling.

A space maps `model_training_parameters` keys to a distribution:

    {"type": "int", "low": 8, "high": 48, "step": 8}
    {"type": "float", "low": 1e-4, "high": 1e-2, "log": true}
    {"type": "categorical", "choices": [16, 32, 64]}

In an override file, any other value (a number, string, list) fixes the key for every trial and
`null` removes the key from the space (the config's value is used). Light on imports: the CLI
prints spaces without loading torch or optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.json_files import read_json_object

RECURRENT_SPACE: dict[str, Any] = {
    "window": {"type": "int", "low": 8, "high": 48, "step": 8},
    "hidden_size": {"type": "categorical", "choices": [16, 32, 64]},
    "num_layers": {"type": "int", "low": 1, "high": 2},
    "dropout": {"type": "float", "low": 0.0, "high": 0.4},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
}
# The hybrid pools over horizons up to 24 candles (its default `pool_horizons`), so its window
# starts there; its convolution width and attention width are searched too.
HYBRID_SPACE: dict[str, Any] = {
    **RECURRENT_SPACE,
    "window": {"type": "int", "low": 24, "high": 48, "step": 8},
    "conv_channels": {"type": "categorical", "choices": [8, 16, 32]},
    "attention_dim": {"type": "categorical", "choices": [16, 32, 64]},
}
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "lstm": RECURRENT_SPACE, "gru": RECURRENT_SPACE, "cnn_lstm_attention": HYBRID_SPACE,
}
KINDS = ("int", "float", "categorical")


def _check(key: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        return  # a fixed value; the model's config validation checks it
    kind = spec.get("type")
    if kind not in KINDS:
        raise FreqaiSeqError(f"Search space key {key!r}: type must be one of {', '.join(KINDS)}, "
                             f"got {kind!r}.")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices or not all(
                c is None or isinstance(c, bool | int | float | str) for c in choices):
            raise FreqaiSeqError(f"Search space key {key!r}: choices must be a non-empty list of "
                                 "numbers, strings, booleans or null (fix a list-valued key "
                                 "instead of searching it).")
        return
    number = int if kind == "int" else int | float
    low, high = spec.get("low"), spec.get("high")
    if not (isinstance(low, number) and isinstance(high, number)) or isinstance(low, bool) \
            or isinstance(high, bool) or low > high:
        raise FreqaiSeqError(f"Search space key {key!r}: {kind} needs numeric low <= high, got "
                             f"low={low!r}, high={high!r}.")
    if spec.get("log") and low <= 0:
        raise FreqaiSeqError(f"Search space key {key!r}: a log scale needs low > 0.")
    unknown = set(spec) - {"type", "low", "high", "step", "log"}
    if unknown:
        raise FreqaiSeqError(f"Search space key {key!r}: unknown fields {sorted(unknown)}.")


def load_space(network: str, override: Path | None = None) -> dict[str, Any]:
    """The default space of a network, updated key by key from an override JSON file."""
    space = dict(DEFAULT_SPACES[network])
    if override is not None:
        data = read_json_object(override, "the search space (key -> distribution)")
        for key, spec in data.items():
            if spec is None:
                space.pop(key, None)
            else:
                space[key] = spec
    for key, spec in space.items():
        _check(key, spec)
    return space


def lowest(space: dict[str, Any]) -> dict[str, Any]:
    """One point of the space (each lower bound or first choice): used to check every key
    against the model's configuration before any trial runs."""
    point = {}
    for key, spec in space.items():
        if not isinstance(spec, dict):
            point[key] = spec
        elif spec["type"] == "categorical":
            point[key] = spec["choices"][0]
        else:
            point[key] = spec["low"]
    return point


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """The trial's values for every key of the space (fixed keys as given)."""
    params: dict[str, Any] = {}
    for key, spec in space.items():
        if not isinstance(spec, dict):
            params[key] = spec
        elif spec["type"] == "int":
            params[key] = trial.suggest_int(key, spec["low"], spec["high"],
                                            step=spec.get("step", 1), log=spec.get("log", False))
        elif spec["type"] == "float":
            params[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]),
                                              step=spec.get("step"), log=spec.get("log", False))
        else:
            params[key] = trial.suggest_categorical(key, spec["choices"])
    return params
