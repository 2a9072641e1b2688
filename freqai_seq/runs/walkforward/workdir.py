"""A batch's work folder, on the way out and back: what a batch needs in it (its description,
the run's config without credentials, the strategy and model files), and how what it wrote
there is collected into the identifier's models folder as one freqtrade process would have
left it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from freqai_seq.atomic import atomic_writer
from freqai_seq.run_fingerprint import FINGERPRINT_FILE, carry_fingerprint
from freqai_seq.runs.freqtrade_log import DONE_TRAINING
from freqai_seq.runs.run_config import WORKER_PLACEHOLDER, RunInputs, redacted
from freqai_seq.runs.walkforward.plan import FAILED_FILE, Batch, prediction_file


def batch_config(inputs: RunInputs) -> dict[str, Any]:
    """The run's merged config as a batch runs it: placeholders that freqtrade accepts instead
    of credentials (a worker on another machine needs none of the user's files), and the
    strategy and model found in the batch's own user-data folder (their files are shipped
    there)."""
    config = redacted(inputs.merged, WORKER_PLACEHOLDER)
    for key in ("strategy_path", "freqaimodel_path", "user_data_dir", "datadir"):
        config.pop(key, None)
    return config


def user_class_files(inputs: RunInputs, userdir: Path) -> dict[str, list[Path]]:
    """The .py files freqtrade would search for the strategy and the model: the configured
    search paths and the user-data folders (the plugin's own loaders are rewritten anyway)."""
    found: dict[str, list[Path]] = {}
    for folder, key in (("strategies", "strategy_path"), ("freqaimodels", "freqaimodel_path")):
        places = [userdir / folder] + ([Path(inputs.merged[key])] if inputs.merged.get(key)
                                       else [])
        found[folder] = [f for place in places if place.is_dir()
                         for f in sorted(place.glob("*.py"))]
    return found


def prepare_workdir(workdir: Path, batch: Batch, inputs: RunInputs, userdir: Path) -> None:
    """A batch's folder: its description, the run's config, the strategy and model files."""
    shutil.rmtree(workdir, ignore_errors=True)
    batch.write(workdir)
    (workdir / batch.config).write_text(json.dumps(batch_config(inputs), indent=2))
    for folder, files in user_class_files(inputs, userdir).items():
        target = workdir / "user_data" / folder
        target.mkdir(parents=True, exist_ok=True)
        for file in files:
            shutil.copy2(file, target / file.name)
    recorded = userdir / "models" / batch.identifier / FINGERPRINT_FILE
    if recorded.is_file():  # the batch stops, as the final backtest would, on other settings
        (workdir / "user_data" / "models" / batch.identifier).mkdir(parents=True, exist_ok=True)
        shutil.copy2(recorded, workdir / "user_data" / "models" / batch.identifier
                     / FINGERPRINT_FILE)


def collect(workdirs: list[Path], models: Path) -> int:
    """Move what the batches finished into the identifier's models folder `models`, with the
    run fingerprint and FreqAI's pair dictionary; returns the windows collected."""
    trained = sum(_collect_one(workdir, models) for workdir in workdirs)
    if trained:
        carry_fingerprint([workdir / "user_data" / "models" / models.name
                           for workdir in workdirs], models)
    _merge_pair_dictionaries(workdirs, models)
    return trained


def _collect_one(workdir: Path, models: Path) -> int:
    """Move what a batch finished into the identifier's models folder: each window's sub-train
    folder first, its prediction file last (the file FreqAI takes as "this window is done").
    A window whose training failed is left behind (FreqAI wrote zeros for it), and so is a
    prediction file cut short by a killed batch: taken as done, it would fail every rerun."""
    found = workdir / "user_data" / "models"
    failures = workdir / FAILED_FILE
    failed = {prediction_file(Path(), *json.loads(line)).name
              for line in (failures.read_text().splitlines() if failures.is_file() else [])}
    moved = 0
    for predictions in found.glob("*/backtesting_predictions/*_prediction.feather"):
        if predictions.name in failed or not _whole(predictions):
            continue
        source = predictions.parent.parent
        coin, stamp = predictions.name.split("_")[1:3]
        for sub in source.glob(f"sub-train-*_{stamp}"):
            if sub.name.lower() == f"sub-train-{coin}_{stamp}":
                target = models / sub.name
                shutil.rmtree(target, ignore_errors=True)
                models.mkdir(parents=True, exist_ok=True)
                shutil.move(str(sub), target)
        target = models / "backtesting_predictions" / predictions.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(predictions), target)
        moved += 1
    return moved


def _whole(feather: Path) -> bool:
    """Whether the file is a complete Arrow file: FreqAI writes its prediction files as
    feather, whose footer comes last."""
    import pyarrow as pa
    import pyarrow.ipc

    try:
        with feather.open("rb") as fh:
            pyarrow.ipc.open_file(fh)
    except (pa.ArrowInvalid, OSError):
        return False
    return True


def _merge_pair_dictionaries(workdirs: list[Path], models: Path) -> None:
    """FreqAI's `pair_dictionary.json` (which model each pair uses: a live bot or `validate`
    started on these models reads it) as one freqtrade process would have left it: per pair
    the newest collected window's model, found in this models folder. Each batch wrote its
    own, naming its own folders."""
    path = models / "pair_dictionary.json"
    merged: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    for workdir in workdirs:
        for drawer in (workdir / "user_data" / "models").glob("*/pair_dictionary.json"):
            for pair, entry in json.loads(drawer.read_text()).items():
                if not entry.get("model_filename") or not entry.get("data_path"):
                    continue
                here = models / Path(entry["data_path"]).name
                if not here.is_dir():  # its window failed: not collected
                    continue
                entry = {**entry, "data_path": str(here)}
                if pair not in merged or _window_end(entry) > _window_end(merged[pair]):
                    merged[pair] = entry
    if merged:
        with atomic_writer(path) as fh:
            fh.write(json.dumps(merged, indent=4).encode())


def _window_end(entry: dict[str, Any]) -> int:
    """The window end in a FreqAI model name (`cb_btc_1565222400`)."""
    return int(str(entry["model_filename"]).rsplit("_", 1)[1])


def training_times(workdirs: list[Path]) -> tuple[float, ...]:
    """Seconds of each training the batches' freqtrade logs record, batch by batch."""
    logs = [workdir / "freqtrade.log" for workdir in workdirs]
    return tuple(float(t) for log in logs if log.is_file()
                 for t in DONE_TRAINING.findall(log.read_text(errors="replace")))
