"""What a FreqAI identifier's folder was made with, so a changed run never reuses its files.

FreqAI reuses a backtest prediction file after checking only its length, dates and features,
loads a saved model for a window when one exists, and a live bot loads the models its pair
dictionary names; `run_params.json` is rewritten at every start and holds no model class. So a
GRU backtest after an LSTM one under the same identifier reports the LSTM's predictions as the
GRU's. The plugin records, beside FreqAI's files, what changes predictions, and a run whose
settings differ from the recorded ones stops with one sentence naming both, before FreqAI reads
anything (checked by the plugin's model classes and by its strategies, so FreqAI's own models
run by the plugin's strategies are covered too).

Two fields are compared as sets: a run may ask for some of the recorded labels (a strategy that
trades only the return forecast of an interval model) and, for networks trained across pairs,
some of the recorded pairs (a plot of one pair). A per-pair model's files are per pair, so its
pairs are recorded but not compared.
"""

from __future__ import annotations

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

_checked: set[tuple[Path, str]] = set()


def model_folder(config: dict[str, Any]) -> Path:
    """FreqAI's folder for the config's identifier (`set_full_path`)."""
    return Path(config["user_data_dir"]) / "models" / config["freqai"].get(
        "identifier", "no_id_provided")


def run_fingerprint(config: dict[str, Any], labels: list[str] | None) -> dict[str, Any]:
    """The settings that change predictions; not the strategy class, which only trades them."""
    freqai = config["freqai"]
    training = freqai.get("model_training_parameters") or {}
    return {
        "format": FORMAT,
        "model": config.get("freqaimodel"),
        "model_training_parameters": training,
        **{key: freqai.get(key) for key in FREQAI_KEYS},
        "labels": labels,
        "trading_mode": config.get("trading_mode", "spot"),
        "pairs": sorted(config.get("exchange", {}).get("pair_whitelist") or []),
        "cross_pair": bool(training.get("cross_pair")),
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


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What keeps `current` from reusing files made with `recorded`, one phrase each."""
    found = []
    if recorded.get("model") != current["model"]:
        found.append(f"model {recorded.get('model')} -> {current['model']}")
    old_labels, new_labels = recorded.get("labels"), current["labels"]
    if (old_labels is None) != (new_labels is None) or (
            new_labels is not None and not set(new_labels) <= set(old_labels)):
        found.append(f"labels {old_labels} -> {new_labels}")
    cross = recorded.get("cross_pair") or current["cross_pair"]
    if cross and not set(current["pairs"]) <= set(recorded.get("pairs") or []):
        found.append(f"pairs {recorded.get('pairs')} -> {current['pairs']}")
    skipped = {"format", "model", "labels", "pairs"}
    old = _flatten({k: v for k, v in recorded.items() if k not in skipped})
    new = _flatten({k: v for k, v in current.items() if k not in skipped})
    found += [f"{key} {old.get(key)!r} -> {new.get(key)!r}"
              for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]
    return found


def has_reusable_files(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in REUSED_FILES)


def read_fingerprint(folder: Path) -> dict[str, Any] | None:
    path = folder / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise OperationalException(
            f"{path} is not readable JSON ({exc}): it records what {folder.name}'s files were "
            "made with; delete the folder or the file to start afresh.") from exc


def write_fingerprint(folder: Path, fingerprint: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_writer(folder / FINGERPRINT_FILE) as fh:
        fh.write(json.dumps(fingerprint, indent=2, sort_keys=True, default=str).encode())


def carry_fingerprint(sources: list[Path], folder: Path) -> None:
    """Record in `folder` what batches of one run recorded in theirs (walk-forward workers,
    each on some of the pairs), when `folder` has no record yet: their pairs together."""
    found = [f for f in (read_fingerprint(s) for s in sources) if f is not None]
    if not found or (folder / FINGERPRINT_FILE).is_file():
        return
    pairs = sorted({pair for f in found for pair in f.get("pairs") or []})
    write_fingerprint(folder, {**found[0], "pairs": pairs})


def guard_run(config: dict[str, Any], strategy: Any, dataframe: DataFrame,
              metadata: dict) -> None:
    """Stop a run whose settings differ from those its identifier's files were made with;
    record them when the folder has none. Once per process and folder."""
    folder = model_folder(config)
    current = run_fingerprint(config, label_columns(strategy, dataframe, metadata))
    key = (folder, json.dumps(current, sort_keys=True, default=str))
    if key in _checked and (folder / FINGERPRINT_FILE).is_file():
        return
    recorded = read_fingerprint(folder)
    if recorded is None:
        if has_reusable_files(folder):
            logger.warning("%s holds FreqAI files but no %s (written by an earlier release, or "
                           "by a run without freqai-seq's models and strategies): they are "
                           "reused as this run's; use a new identifier if they are not.",
                           folder, FINGERPRINT_FILE)
        write_fingerprint(folder, current)
    else:
        found = differences(recorded, current)
        if found:
            raise OperationalException(
                f"The FreqAI identifier '{folder.name}' holds the files of another run "
                f"({'; '.join(found[:6])}{'; ...' if len(found) > 6 else ''}): FreqAI would "
                "reuse them as this run's predictions and models. Set another "
                "freqai.identifier (freqai-seq: --identifier), or delete "
                f"{folder} to start afresh.")
    _checked.add(key)


class RunGuard:
    """Mixed into the plugin's FreqAI model classes before IFreqaiModel: the run fingerprint is
    checked before FreqAI's first reuse, whatever strategy drives the model."""

    def start(self, dataframe: DataFrame, metadata: dict, strategy: Any) -> DataFrame:
        guard_run(self.config, strategy, dataframe, metadata)  # type: ignore[attr-defined]
        return super().start(dataframe, metadata, strategy)  # type: ignore[misc]
