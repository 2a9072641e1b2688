"""A walk-forward backtest whose trainings are spread over worker processes
(`freqai-seq backtest --workers N`) or a Dask cluster (`--cluster ADDRESS`).

FreqAI trains every (pair, window) of a backtest one after another. Here the driver plans the
same windows FreqAI would (its own data kitchen splits the timerange), leaves out the ones whose
prediction file already exists (FreqAI's own rule for reusing a window), deals the rest to N
batches, and each batch is a freqtrade backtest that trains only its windows
(freqai_seq.runs.walkforward.worker). What the batches write, exactly what FreqAI writes
(sub-train folders, models, metadata, pipelines, prediction files), lands in the identifier's
models folder; then freqtrade's own backtest runs once over all pairs and finds every window's
predictions, so the trades and profit are freqtrade's.

Windows are independent unless something chains them: `continual_learning` starts each
training from the pair's previous model, so a pair's windows stay in one batch, in order; a
cross-pair network trains on every pair's rows of one window, so a window's pairs stay
together. Seeds are per training, and the torch / OpenMP thread count per training is the same
in every batch, so the predictions do not depend on how the work was split.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from freqai_seq.atomic import atomic_writer
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.processes import die_with_parent
from freqai_seq.run_fingerprint import FINGERPRINT_FILE, carry_fingerprint
from freqai_seq.runs.freqtrade_log import DONE_TRAINING
from freqai_seq.runs.run_config import (
    WORKER_PLACEHOLDER,
    RunInputs,
    check_run_inputs,
    redacted,
)
from freqai_seq.runs.runner import (
    BacktestRequest,
    check_freqtrade_args,
    check_identifier,
    run_backtest,
)
from freqai_seq.runs.walkforward.worker import FAILED_FILE, OUTCOME_FILE, Batch, Outcome

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 30.0


@dataclass(frozen=True)
class Task:
    """Windows that train together: the unit a batch is dealt."""

    pairs: tuple[str, ...]
    windows: tuple[int, ...]  # FreqAI model ids: the end of each training range (seconds)


def planned_windows(inputs: RunInputs, timerange: str, models: Path) -> list[int]:
    """The model ids of FreqAI's training windows for this timerange, from its own split."""
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

    # FreqAI's kitchen copies the first config file into a models folder it creates; the
    # folder made here first keeps the user's file (and any credential in it) out of it.
    models.mkdir(parents=True, exist_ok=True)
    config = {**inputs.merged, "timerange": timerange, "user_data_dir": models.parent.parent,
              "config_files": [str(c) for c in inputs.configs]}
    kitchen = FreqaiDataKitchen(config)
    return [int(tr.stopts) for tr in kitchen.training_timeranges]


def split_rule(merged: dict[str, Any]) -> str:
    """How the windows may be split: by "pair-window", "window" (cross-pair), "pair"
    (continual_learning chains a pair's windows) or "none" (both)."""
    freqai = merged.get("freqai", {})
    cross = bool((freqai.get("model_training_parameters") or {}).get("cross_pair"))
    chained = bool(freqai.get("continual_learning"))
    return {(False, False): "pair-window", (True, False): "window",
            (False, True): "pair", (True, True): "none"}[(cross, chained)]


def make_tasks(pairs: list[str], windows: list[int], rule: str) -> list[Task]:
    """The tasks in pair-major, then chronological order."""
    if rule == "pair-window":
        return [Task((p,), (w,)) for p in pairs for w in windows]
    if rule == "window":
        return [Task(tuple(pairs), (w,)) for w in windows]
    if rule == "pair":
        return [Task((p,), tuple(windows)) for p in pairs]
    return [Task(tuple(pairs), tuple(windows))]


def prediction_file(models: Path, pair: str, window: int) -> Path:
    """FreqAI's prediction file of one window (data_kitchen.set_new_model_names)."""
    coin = pair.split("/")[0].lower()
    return models / "backtesting_predictions" / f"cb_{coin}_{window}_prediction.feather"


def unfinished(tasks: list[Task], models: Path) -> list[Task]:
    """Tasks with a window still to train. A chained task restarts whole: its first
    unfinished window needs the ones before it in the same process."""
    return [t for t in tasks if any(not prediction_file(models, p, w).is_file()
                                    for p in t.pairs for w in t.windows)]


def deal(tasks: list[Task], n: int) -> list[dict[str, list[int]]]:
    """`tasks` cut into at most `n` contiguous runs of near-equal length, each as
    {pair: [model ids]}: contiguous, so a batch computes the features of as few pairs as it
    can (every batch loads and engineers each of its pairs over the whole timerange)."""
    count = min(n, len(tasks))
    bounds = [round(i * len(tasks) / count) for i in range(count + 1)]
    batches = []
    for start, stop in pairwise(bounds):
        windows: dict[str, list[int]] = {}
        for task in tasks[start:stop]:
            for pair in task.pairs:
                windows.setdefault(pair, []).extend(task.windows)
        batches.append({p: sorted(w) for p, w in windows.items()})
    return batches


@dataclass(frozen=True)
class WorkerPlan:
    """A spread walk-forward: `workers` batches, locally or on the Dask scheduler at
    `cluster`, each training with `threads` threads."""

    workers: int
    threads: int = 1
    cluster: str | None = None


@dataclass(frozen=True)
class SpreadRun:
    """How a spread walk-forward ended, and how long its two phases took."""

    code: int  # 0; 1 when a batch or the final backtest failed; 130 when interrupted
    trained: int  # windows the workers trained
    training_s: float  # the training phase: planning, batches, collecting
    final_s: float  # freqtrade's final backtest over the predictions (serial)
    training_times: tuple[float, ...] = ()  # seconds of each training the batches logged


def run_spread(request: BacktestRequest, plan: WorkerPlan,
               log_path: Path | None = None) -> SpreadRun:
    """Train the backtest's windows in batches, then run freqtrade's backtest once over them.
    A failed batch names the windows it left; what finished is kept and a rerun trains only
    the rest."""
    started = time.monotonic()
    if plan.cluster:  # first: a wrong address fails in seconds, before any other work
        from freqai_seq.runs.walkforward.cluster import check_scheduler

        check_scheduler(plan.cluster)
    inputs = check_run_inputs(request.configs, request.spec, "backtesting", request.datadir)
    if (check_freqtrade_args(request, "backtesting").get("freqai_backtest_live_models")
            or inputs.merged.get("freqai_backtest_live_models")):
        raise FreqaiSeqError("--workers and --cluster do not apply to "
                             "--freqai-backtest-live-models: that backtest trains nothing.")
    check_identifier(request, inputs)
    models = request.userdir / "models" / request.run_identifier
    windows = planned_windows(inputs, request.timerange, models)
    rule = split_rule(inputs.merged)
    tasks = make_tasks(inputs.pairs, windows, rule)
    todo = unfinished(tasks, models)
    workers = plan.workers
    if plan.cluster and not workers:
        from freqai_seq.runs.walkforward.cluster import cluster_slots

        workers = cluster_slots(plan.cluster)
    logger.info("Walk-forward: %d pairs x %d windows, split by %s into %d tasks; %d already "
                "trained (prediction files in %s), %d to train on %d %s", len(inputs.pairs),
                len(windows), rule, len(tasks), len(tasks) - len(todo), models, len(todo),
                workers, f"Dask worker slots at {plan.cluster}" if plan.cluster
                else "local worker processes")
    trained = 0
    training_times: tuple[float, ...] = ()
    if todo:
        staging = request.userdir / "walkforward" / request.run_identifier
        shutil.rmtree(staging, ignore_errors=True)
        batches = [Batch(request.strategy, request.model, request.timerange,
                         request.run_identifier, windows, plan.threads, "")
                   for windows in deal(todo, workers)]
        if plan.cluster:
            from freqai_seq.runs.walkforward.cluster import run_on_cluster

            outcomes = run_on_cluster(plan.cluster, batches, inputs, request, staging)
        else:
            outcomes = run_local(batches, inputs, request, staging)
        trained = sum(_collect(staging / f"batch-{i}", models) for i in range(len(batches)))
        if trained:
            carry_fingerprint([staging / f"batch-{i}" / "user_data" / "models"
                               / request.run_identifier for i in range(len(batches))], models)
        _merge_pair_dictionaries([staging / f"batch-{i}" for i in range(len(batches))], models)
        training_times = tuple(float(t) for i in range(len(batches))
                               for t in DONE_TRAINING.findall(_read(staging / f"batch-{i}"
                                                                    / "freqtrade.log")))
        logger.info("Walk-forward: %d windows trained in %.1f s by %d batches", trained,
                    time.monotonic() - started, len(batches))
        missing = [(p, w) for t in todo for p in t.pairs for w in t.windows
                   if not prediction_file(models, p, w).is_file()]
        if missing or any(o.code != 0 or o.failed_trainings for o in outcomes):
            _report_failures(batches, outcomes, missing, staging)
            code = 130 if any(o.code == 130 for o in outcomes) else 1
            return SpreadRun(code, trained, time.monotonic() - started, 0.0, training_times)
        shutil.rmtree(staging, ignore_errors=True)
    training_s = time.monotonic() - started
    final_log = log_path or request.userdir / "runs" / f"{request.run_identifier}.backtest.log"
    code = run_backtest(request, final_log)
    retrained = len(DONE_TRAINING.findall(final_log.read_text())) if final_log.exists() else 0
    if code == 0 and retrained:
        logger.error("freqtrade's final backtest trained %d window(s) the workers should have "
                     "trained: their predictions were not reused.", retrained)
        code = 1
    return SpreadRun(code, trained, training_s, time.monotonic() - started - training_s,
                     training_times)


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


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


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


def run_local(batches: list[Batch], inputs: RunInputs, request: BacktestRequest,
              staging: Path) -> list[Outcome]:
    """Each batch in a worker process of its own (stopped with us: Ctrl-C, a kill)."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, batch in enumerate(batches):
            workdir = staging / f"batch-{i}"
            prepare_workdir(workdir, replace(batch, datadir=str(request.datadir.resolve())),
                            inputs, request.userdir)
            with (workdir / "worker.log").open("wb") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "freqai_seq.runs.walkforward.worker", "batch",
                     str(workdir)], stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent))
        _wait(procs, lambda: _progress(staging, request))
    except BaseException:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait()
        raise
    return [_outcome(staging / f"batch-{i}", proc.returncode) for i, proc in enumerate(procs)]


def _wait(procs: list[subprocess.Popen[bytes]], progress: Callable[[], None]) -> None:
    report_at = time.monotonic() + PROGRESS_EVERY_S
    while any(p.poll() is None for p in procs):
        time.sleep(0.5)
        if time.monotonic() >= report_at:
            progress()
            report_at += PROGRESS_EVERY_S


def _progress(staging: Path, request: BacktestRequest) -> None:
    done = sum(1 for _ in staging.glob(
        f"batch-*/user_data/models/{request.run_identifier}/backtesting_predictions/*.feather"))
    logger.info("Walk-forward: %d windows trained so far", done)


def _outcome(workdir: Path, returncode: int | None) -> Outcome:
    """The batch's recorded outcome, or what its exit says when it died before recording."""
    path = workdir / OUTCOME_FILE
    if path.is_file():
        return Outcome.read(path)
    return Outcome(1 if returncode != -2 else 130, 0,
                   f"the worker process ended with exit code {returncode} before it finished "
                   f"(killed?); its log: {workdir / 'worker.log'}")


def _collect(workdir: Path, models: Path) -> int:
    """Move what a batch finished into the identifier's models folder: each window's sub-train
    folder first, its prediction file last (the file FreqAI takes as "this window is done").
    A window whose training failed is left behind (FreqAI wrote zeros for it)."""
    found = workdir / "user_data" / "models"
    failures = workdir / FAILED_FILE
    failed = {prediction_file(Path(), *json.loads(line)).name
              for line in (failures.read_text().splitlines() if failures.is_file() else [])}
    moved = 0
    for predictions in found.glob("*/backtesting_predictions/*_prediction.feather"):
        if predictions.name in failed:
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


def _report_failures(batches: list[Batch], outcomes: list[Outcome],
                     missing: list[tuple[str, int]], staging: Path) -> None:
    from datetime import UTC, datetime

    for i, (batch, outcome) in enumerate(zip(batches, outcomes, strict=True)):
        if outcome.code != 0 or outcome.failed_trainings:
            logger.error("Walk-forward batch %d (%s) failed: exit %d, %d failed training(s); "
                         "its output: %s\n%s", i, ", ".join(batch.windows), outcome.code,
                         outcome.failed_trainings, staging / f"batch-{i}" / "freqtrade.log",
                         "\n".join(outcome.tail.splitlines()[-15:]))
    for pair, window in missing:
        logger.error("Walk-forward: %s, window ending %s: not trained", pair,
                     datetime.fromtimestamp(window, UTC).strftime("%Y-%m-%d %H:%M"))
    logger.error("%d window(s) not trained; the others are kept, and a rerun of the same "
                 "command trains only the missing ones.", len(missing))
