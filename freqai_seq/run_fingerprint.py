"""What a FreqAI identifier's folder was made with, so a changed run never reuses its files.

FreqAI reuses a backtest prediction file after checking only its length, dates and features,
loads a saved model for a window when one exists, and a live bot loads the models its pair
dictionary names; `run_params.json` is rewritten at every start and holds no model class. So a
GRU backtest after an LSTM one under the same identifier reports the LSTM's predictions as the
GRU's. The plugin records, beside FreqAI's files, what changes predictions, and a run whose
settings differ from the recorded ones stops with one sentence naming both:

- `freqai-seq` commands check before the market or freqtrade starts (`check_settings`);
- the plugin's model classes check when freqtrade builds them (bot start, before FreqAI reads
  anything; a live bot then exits instead of running without predictions), and its strategies
  in `bot_start`, which covers FreqAI's own models run by them;
- the labels are known once the strategy's targets can be computed: checked, and the record
  written, at the first `populate_indicators` (`guard_run`).

Only a folder holding files FreqAI would reuse is compared: a first run that stopped before
writing any leaves a record that the next run replaces. Two fields are compared as sets: a run
may ask for some of the recorded labels (a strategy trading only the return forecast of an
interval model) and, for a network pooling pairs, plot some of the recorded pairs (anything
that may train must have the recorded pairs, or name them in `cross_pair_pairs`). A per-pair
model's files are per pair: its pairs are recorded, not compared.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqtrade.exceptions import OperationalException

from freqai_seq.atomic import atomic_writer

if TYPE_CHECKING:
    from pandas import DataFrame

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "freqai-seq-run.json"
FORMAT = 1
# FreqAI's files a later run would reuse: prediction files, per-window folders, live state.
REUSED_FILES = ("backtesting_predictions", "sub-train-*", "historic_predictions.pkl",
                "pair_dictionary.json")
FREQAI_KEYS = ("feature_parameters", "data_split_parameters", "train_period_days",
               "backtest_period_days")
LABEL_PROBE_ROWS = 500  # enough rows for any forward target; labels are read by column name
UNKNOWN = "unknown"  # labels before the strategy's targets have run

_checked: dict[tuple[Path, str, str], list[str] | None] = {}


def model_folder(config: dict[str, Any]) -> Path:
    """FreqAI's folder for the config's identifier (`set_full_path`)."""
    return Path(config["user_data_dir"]) / "models" / config["freqai"].get(
        "identifier", "no_id_provided")


def _freqai_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config's `freqai` block as freqtrade hands it to FreqAI: its schema's defaults filled
    in, and the base timeframe in `include_timeframes` (freqtrade does both when it validates a
    config: backtesting, hyperopt, trade; plot-dataframe skips the second)."""
    from freqtrade.config_schema.config_schema import CONF_SCHEMA
    from freqtrade.configuration.config_validation import FreqtradeValidator
    from jsonschema.exceptions import ValidationError

    wrapped = {"freqai": copy.deepcopy(config["freqai"])}
    with contextlib.suppress(ValidationError):  # freqtrade itself names what is invalid
        FreqtradeValidator({**CONF_SCHEMA, "required": [], "properties": {
            "freqai": CONF_SCHEMA["properties"]["freqai"]}}).validate(wrapped)
    freqai = wrapped["freqai"]
    params = freqai.setdefault("feature_parameters", {})
    timeframes = list(params.get("include_timeframes") or [])
    base = config.get("timeframe")
    if base and base not in timeframes:
        params["include_timeframes"] = [base, *timeframes]
    return freqai


def run_fingerprint(config: dict[str, Any], labels: list[str] | str | None) -> dict[str, Any]:
    """The settings that change predictions; not the strategy class, which only trades them."""
    freqai = _freqai_settings(config)
    return {
        "format": FORMAT,
        "model": config.get("freqaimodel"),
        "timeframe": config.get("timeframe"),
        "model_training_parameters": freqai.get("model_training_parameters") or {},
        **{key: freqai.get(key) for key in FREQAI_KEYS},
        "labels": labels,
        "trading_mode": config.get("trading_mode", "spot"),
        "pairs": sorted(config.get("exchange", {}).get("pair_whitelist") or []),
    }


def label_columns(strategy: Any, dataframe: DataFrame, metadata: dict) -> list[str] | None:
    """The `&` columns the strategy's `set_freqai_targets` adds, from a copy of the last rows
    (FreqAI does not compute labels when it reuses a prediction file). None when the targets
    cannot be computed from the candles alone."""
    probe = dataframe.tail(LABEL_PROBE_ROWS).copy()
    before = set(probe.columns)
    try:
        out = strategy.set_freqai_targets(probe, metadata=metadata)
    except Exception as exc:  # a user's targets may need features: record no labels then
        logger.warning("The labels of %s could not be read from the candles alone (%s): the "
                       "run fingerprint records none.", type(strategy).__name__, exc)
        return None
    return sorted(c for c in out.columns if str(c).startswith("&") and c not in before)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key in value:
            flat.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _may_train(config: dict[str, Any]) -> bool:
    return str(getattr(config.get("runmode"), "value", config.get("runmode"))) != "plot"


def differences(recorded: dict[str, Any], current: dict[str, Any], pooled: bool,
                may_train: bool = True) -> list[str]:
    """What keeps `current` from reusing files made with `recorded`, one phrase each.
    `pooled`: the model trains one network on every pair's rows."""
    found = []
    old_labels, new_labels = recorded.get("labels"), current["labels"]
    if new_labels != UNKNOWN and (
            (old_labels is None) != (new_labels is None)
            or (new_labels is not None and not set(new_labels) <= set(old_labels))):
        found.append(f"labels {old_labels} -> {new_labels}")
    if pooled:
        old_pairs, new_pairs = set(recorded.get("pairs") or []), set(current["pairs"])
        named = set(current["model_training_parameters"].get("cross_pair_pairs") or [])
        fits = new_pairs <= old_pairs if (named or not may_train) else new_pairs == old_pairs
        if not fits:
            found.append(f"pairs {recorded.get('pairs')} -> {current['pairs']}")
    skipped = {"labels", "pairs"}
    old = _flatten({k: v for k, v in recorded.items() if k not in skipped})
    new = _flatten({k: v for k, v in current.items() if k not in skipped})
    found += [f"{key} {old.get(key)!r} -> {new.get(key)!r}"
              for key in sorted(old.keys() | new.keys(), key=lambda k: (k != "model", k))
              if old.get(key) != new.get(key)]
    return found


def has_reusable_files(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in REUSED_FILES)


def read_fingerprint(folder: Path) -> dict[str, Any] | None:
    path = folder / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        raise OperationalException(
            f"{path} is not a readable run record: it records what {folder.name}'s files were "
            "made with; delete the folder, or the file to reuse them as they are.")
    return recorded


def write_fingerprint(folder: Path, fingerprint: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_writer(folder / FINGERPRINT_FILE) as fh:
        fh.write(json.dumps(fingerprint, indent=2, sort_keys=True, default=str).encode())


def mismatch(config: dict[str, Any], labels: list[str] | str | None,
             pooled: bool) -> str | None:
    """The sentence for a run whose settings differ from the record of a folder holding files
    FreqAI would reuse; None when it may reuse them (or there is nothing to reuse)."""
    folder = model_folder(config)
    recorded = read_fingerprint(folder)
    if recorded is None or not has_reusable_files(folder):
        return None
    found = differences(recorded, run_fingerprint(config, labels), pooled, _may_train(config))
    if not found:
        return None
    return (f"The FreqAI identifier '{folder.name}' holds the files of another run "
            f"({'; '.join(found[:6])}{'; ...' if len(found) > 6 else ''}): FreqAI would "
            "reuse them as this run's predictions and models. Set another freqai.identifier "
            f"(freqai-seq: --identifier), or delete {folder} to start afresh.")


def check_settings(config: dict[str, Any], pooled: bool) -> None:
    """At start, before the labels are known: OperationalException on other settings."""
    sentence = mismatch(config, UNKNOWN, pooled)
    if sentence:
        raise OperationalException(sentence)


def carry_fingerprint(sources: list[Path], folder: Path) -> None:
    """Record in `folder` what batches of one run recorded in theirs (walk-forward workers,
    each on some of the pairs), when `folder` has no record yet: their pairs together."""
    found = [f for f in (read_fingerprint(s) for s in sources) if f is not None]
    if not found or (folder / FINGERPRINT_FILE).is_file():
        return
    pairs = sorted({pair for f in found for pair in f.get("pairs") or []})
    write_fingerprint(folder, {**found[0], "pairs": pairs})


def pools_pairs(model: Any) -> bool:
    """Whether the run's model trains one network on every pair's rows (FreqAI's own models
    train per pair)."""
    return isinstance(model, RunGuard) and model.pools_pairs()


def guard_run(config: dict[str, Any], strategy: Any, dataframe: DataFrame, metadata: dict,
              pooled: bool) -> None:
    """Stop a run whose settings or labels differ from those its identifier's files were made
    with; record them when the folder holds nothing to reuse. The labels are computed once per
    process, folder, settings and strategy class."""
    folder = model_folder(config)
    key = (folder, json.dumps(run_fingerprint(config, None), sort_keys=True, default=str),
           type(strategy).__name__)
    if key in _checked and (folder / FINGERPRINT_FILE).is_file():
        return
    labels = label_columns(strategy, dataframe, metadata)
    sentence = mismatch(config, labels, pooled)
    if sentence:
        raise OperationalException(sentence)
    recorded, reusable = read_fingerprint(folder), has_reusable_files(folder)
    if recorded is None and reusable:
        logger.warning("%s holds FreqAI files but no %s (written by an earlier release, or by "
                       "a run without freqai-seq's models and strategies): they are reused as "
                       "this run's; use a new identifier if they are not.", folder,
                       FINGERPRINT_FILE)
    if recorded is None or not reusable:
        write_fingerprint(folder, run_fingerprint(config, labels))
    _checked[key] = labels


class RunGuard:
    """Mixed into the plugin's FreqAI model classes before IFreqaiModel: the settings are
    checked when freqtrade builds the model, the labels before FreqAI's first reuse, whatever
    strategy drives the model."""

    def __init__(self, **kwargs: Any) -> None:
        config = kwargs["config"]
        check_settings(config, self.pools_pairs(config))
        super().__init__(**kwargs)  # type: ignore[call-arg]

    def pools_pairs(self, config: dict[str, Any] | None = None) -> bool:
        """One network on every pair's rows: `cross_pair` (the pooled LightGBM always)."""
        config = config or self.config  # type: ignore[attr-defined]
        params = config["freqai"].get("model_training_parameters") or {}
        return bool(params.get("cross_pair"))

    def start(self, dataframe: DataFrame, metadata: dict, strategy: Any) -> DataFrame:
        guard_run(self.config, strategy, dataframe, metadata,  # type: ignore[attr-defined]
                  self.pools_pairs())
        return super().start(dataframe, metadata, strategy)  # type: ignore[misc]
