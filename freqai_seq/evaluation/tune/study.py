"""Optuna study of `freqai-seq tune`: settings, storage shared by workers, trials, report.

Any number of worker processes, on one machine or many, work on one study by sharing its name
and storage: SQLite (the default, `user_data/tune/<study>.sqlite`, one machine) or any database
URL SQLAlchemy knows (PostgreSQL for many machines). Each worker runs `--n-trials` trials and
records its name in every trial (`worker` user attribute). The study keeps the objective it was
created with; a worker with other settings is refused instead of mixing incomparable scores.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import socket
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from freqai_seq.atomic import atomic_writer
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.tune.objective import (
    METRICS,
    WalkForward,
    WalkForwardScore,
    load_regressor,
)
from freqai_seq.evaluation.tune.settings import TUNE_PAIRS, TuneSettings
from freqai_seq.evaluation.tune.space import load_space, lowest, suggest
from freqai_seq.json_files import read_json_object
from freqai_seq.redaction import masked
from freqai_seq.runs.run_config import load_freqtrade_config

logger = logging.getLogger(__name__)

SQLITE_TIMEOUT_S = 120  # a worker waits this long for another's write lock before failing
HEARTBEAT_S = 60  # a trial whose worker stopped beating for GRACE_S is marked failed
GRACE_S = 300
SCHEMA_ATTEMPTS = 5  # tries to create the study tables while another worker creates them
# Per-candle training logs of FreqAI and the regressor; -v keeps them.
QUIET_LOGGERS = ("freqtrade", "freqai_seq.model.regressor", "freqai_seq.model.training",
                 "freqai_seq.model.ensemble", "freqai_seq.model.drawer", "datasieve")


@dataclass
class TuneReport:
    study: str
    storage: str  # password hidden
    objective: dict[str, Any]
    states: dict[str, int]
    workers: dict[str, int]
    best_number: int
    best_value: float
    best: dict[str, Any]  # the best trial's user attributes (scores, rows, worker, seconds)
    snippet: dict[str, Any]
    best_file: Path
    complete_values: list[float] = field(default_factory=list)
    trial_seconds: list[float] = field(default_factory=list)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):])
    return None


def _storage_error(what: str, url: str, exc: Exception) -> FreqaiSeqError:
    """One line without credentials: the driver's own error (not SQLAlchemy's wrapper with its
    background link), which may quote the URL, on one line."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return FreqaiSeqError(f"{what} {masked(url)}: {type(exc).__name__}: {masked(reason)}")


def load_config(settings: TuneSettings, userdir: Path) -> dict[str, Any]:
    """The merged freqtrade config of the tuning runs: the user's configs with freqtrade's
    schema defaults, the strategy, model, pairs, windows and a throw-away user_data folder."""
    from freqtrade.configuration.config_validation import validate_config_schema
    from freqtrade.configuration.timerange import TimeRange
    from freqtrade.enums import RunMode

    config = load_freqtrade_config(settings.workspace.configs, userdir)
    validate_config_schema(config)  # fills freqtrade's defaults, as a real command does
    freqai = config["freqai"]
    params = (read_json_object(settings.training_params, "--training-params")
              if settings.training_params else dict(freqai.get("model_training_parameters", {})))
    if settings.epochs is not None:
        params["epochs"] = settings.epochs
    train_days = settings.train_days or int(freqai["train_period_days"])
    predict_days = settings.predict_days or freqai["backtest_period_days"]
    try:
        end = pd.Timestamp(settings.end, tz="UTC")
    except ValueError as exc:
        raise FreqaiSeqError(f"--end {settings.end!r} is not a date.") from exc
    start = end - pd.Timedelta(days=predict_days * settings.windows)
    freqai.update(identifier="tune", train_period_days=train_days,
                  backtest_period_days=predict_days, model_training_parameters=params,
                  save_backtest_models=False, activate_tensorboard=False, mlflow=False)
    config.update(strategy=settings.strategy, freqaimodel=settings.model,
                  timerange=f"{int(start.timestamp())}-{int(end.timestamp())}",
                  runmode=RunMode.BACKTEST, datadir=settings.workspace.datadir)
    pairs = settings.workspace.trading_pairs(config)
    config["exchange"]["pair_whitelist"] = list(pairs if settings.workspace.pairs
                                                else pairs[:TUNE_PAIRS])
    TimeRange.parse_timerange(config["timerange"])  # a bad --end fails here, not in a trial
    return config


def _objective_record(settings: TuneSettings, config: dict[str, Any], walk: WalkForward,
                      space: dict[str, Any]) -> dict[str, Any]:
    """What makes two workers' scores comparable; stored with the study."""
    freqai = config["freqai"]
    return {"model": settings.model, "strategy": settings.strategy,
            "pairs": config["exchange"]["pair_whitelist"], "timerange": config["timerange"],
            "windows": [[t.timerange_str, p.timerange_str] for t, p in walk.windows],
            "train_period_days": freqai["train_period_days"],
            "backtest_period_days": freqai["backtest_period_days"],
            "label": walk.label, "metric": settings.metric,
            "base_params": freqai["model_training_parameters"], "space": space}


def _sampler(seed: int) -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def _pruner(settings: TuneSettings) -> Any:
    import optuna

    if not settings.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=settings.prune_startup_trials,
                                       n_warmup_steps=settings.prune_warmup_windows)


def _open_storage(url: str, engine_kwargs: dict[str, Any]) -> Any:
    """Optuna's storage on `url`, creating its tables on first use.

    Workers started together on a new server database race to create the tables; the loser's
    CREATE fails on the winner's. Its retry finds them made (optuna creates only missing ones)."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    attempt = 1
    while True:
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                                  heartbeat_interval=HEARTBEAT_S,
                                                  grace_period=GRACE_S)
        except (IntegrityError, ProgrammingError) as exc:
            if attempt == SCHEMA_ATTEMPTS:
                raise _storage_error("Cannot create the study tables in", url, exc) from exc
            logger.info("Another worker is creating the study tables in %s; retrying (%d/%d).",
                        masked(url), attempt, SCHEMA_ATTEMPTS - 1)
            time.sleep(0.5 * attempt)
            attempt += 1
        except Exception as exc:  # a bad URL, a missing driver, a database that refuses
            raise _storage_error("Cannot open the study storage", url, exc) from exc


def open_study(settings: TuneSettings, objective: dict[str, Any]) -> tuple[Any, int]:
    """Create the study or join it; returns it and the sampler seed of this worker.

    The worker that creates the study samples with `--seed` (same seed, one worker, same
    trials). A worker joining an existing study draws its own seed from `--seed`, the trials
    already there and its process, so parallel workers do not repeat each other's trials."""
    import optuna
    from filelock import FileLock

    url = settings.storage_url
    sqlite = _sqlite_file(url)
    lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    engine_kwargs: dict[str, Any] = {}
    if sqlite is not None:
        sqlite.parent.mkdir(parents=True, exist_ok=True)
        # Creating the schema and the study is not atomic in SQLite across processes.
        lock = FileLock(str(sqlite) + ".lock", timeout=SQLITE_TIMEOUT_S)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    direction = METRICS[settings.metric]
    with lock:
        storage = _open_storage(url, engine_kwargs)
        try:
            study = optuna.create_study(storage=storage, study_name=settings.study_name,
                                        direction=direction, sampler=_sampler(settings.seed),
                                        pruner=_pruner(settings))
            study.set_user_attr("objective", objective)
            return study, settings.seed
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(storage=storage, study_name=settings.study_name,
                                      pruner=_pruner(settings))
    stored = study.user_attrs.get("objective")
    if stored is not None and stored != json.loads(json.dumps(objective)):
        differ = sorted(k for k in set(stored) | set(objective)
                        if stored.get(k) != json.loads(json.dumps(objective.get(k))))
        raise FreqaiSeqError(
            f"Study {settings.study_name!r} in {masked(url)} was created with other settings "
            f"({', '.join(differ)} differ): its scores are not comparable with this worker's. "
            "Use the same settings, or another --study name.")
    if study.direction.name.lower() != direction:
        raise FreqaiSeqError(f"Study {settings.study_name!r} {study.direction.name.lower()}s; "
                             f"--metric {settings.metric} needs {direction}.")
    digest = hashlib.sha256(f"{settings.seed}/{len(study.trials)}/{worker_name()}".encode())
    seed = int.from_bytes(digest.digest()[:4], "little")
    study.sampler = _sampler(seed)
    return study, seed


def resolve_space(config: dict[str, Any], settings: TuneSettings) -> dict[str, Any]:
    """The search space of the configured model's network (default, updated from
    `settings.space`), every key checked by the model's own configuration parsing."""
    from freqtrade.exceptions import OperationalException

    from freqai_seq.model.regressor import SequenceRegressor

    base = dict(config["freqai"]["model_training_parameters"])
    try:
        probe = load_regressor(config, base)
        if not isinstance(probe, SequenceRegressor):
            raise FreqaiSeqError(f"{settings.model} is not a freqai-seq sequence model: tune "
                                 "searches their model_training_parameters (`freqai-seq keys`).")
        space = load_space(probe.network, settings.space)
        load_regressor(config, {**base, **lowest(space)})  # an unknown key fails here
    except OperationalException as err:
        raise FreqaiSeqError(f"{settings.model}: {err}") from err
    return space


def print_space(settings: TuneSettings, verbose: bool = False) -> dict[str, Any]:
    """The space `run` would search (for `--print-space`)."""
    levels = _quiet(verbose)
    try:
        with tempfile.TemporaryDirectory(prefix="freqai-seq-tune-") as tmp:
            config = load_config(settings, Path(tmp))
            _quiet(verbose)
            return resolve_space(config, settings)
    finally:
        _restore(levels)


def _quiet(verbose: bool) -> dict[str, int]:
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    if not verbose:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    return levels


def _restore(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def run(settings: TuneSettings, verbose: bool = False) -> TuneReport:
    """Run this worker's trials, then report on the whole study and write the best snippet."""
    try:
        import optuna
    except ImportError as exc:
        raise FreqaiSeqError("freqai-seq tune needs optuna: pip install -e '.[dev]' (or "
                             "pip install optuna).") from exc
    from freqtrade.exceptions import OperationalException

    if settings.metric not in METRICS:
        raise FreqaiSeqError(f"--metric must be one of {', '.join(METRICS)}.")
    if settings.windows < 1 or settings.n_trials < 1:
        raise FreqaiSeqError("--windows and --n-trials must be at least 1.")
    levels = _quiet(verbose)
    import torch

    threads = torch.get_num_threads()  # each trial's model sets its num_threads
    try:
        with tempfile.TemporaryDirectory(prefix="freqai-seq-tune-") as tmp:
            config = load_config(settings, Path(tmp))
            _quiet(verbose)  # freqtrade's logging setup in load_config resets the levels
            space = resolve_space(config, settings)
            base = dict(config["freqai"]["model_training_parameters"])
            pairs = tuple(config["exchange"]["pair_whitelist"])
            walk = WalkForward(config, pairs, settings.workspace.datadir)
            study, seed = open_study(settings, _objective_record(settings, config, walk, space))
            name = worker_name()
            logger.info("Worker %s on study %r (%s): %d trial(s), sampler seed %d, %d pair(s) x "
                        "%d window(s), label %s", name, settings.study_name,
                        masked(settings.storage_url), settings.n_trials, seed,
                        len(pairs), len(walk.windows), walk.label)

            def objective(trial: Any) -> float:
                params = {**base, **suggest(trial, space)}
                trial.set_user_attr("worker", name)
                trial.set_user_attr("model_training_parameters", params)
                start = time.perf_counter()

                def report(so_far: WalkForwardScore, step: int) -> None:
                    value = so_far.value(settings.metric)
                    if math.isfinite(value):
                        trial.report(value, step)
                        # Pruning after the last window would only throw the result away.
                        if step < len(walk.windows) - 1 and trial.should_prune():
                            trial.set_user_attr("seconds", time.perf_counter() - start)
                            raise optuna.TrialPruned(f"{settings.metric} {value:.4f} after "
                                                     f"window {step + 1}")

                # --threads trains every trial with that many threads; the snippet keeps the
                # config's own num_threads
                result, window_ic = walk.evaluate(
                    {**params, "num_threads": settings.threads} if settings.threads else params,
                    report)
                trial.set_user_attr("seconds", time.perf_counter() - start)
                trial.set_user_attr("scores", {
                    "rows": result.rows, "ic": result.ic, "direction": result.direction,
                    "mse_ratio": result.mse_ratio, "window_ic": window_ic,
                    "persistence_ic": result.persistence_ic,
                    "persistence_mse_ratio": result.persistence_mse_ratio})
                return result.value(settings.metric)

            study.optimize(objective, n_trials=settings.n_trials, timeout=settings.timeout,
                           catch=(FreqaiSeqError, OperationalException), gc_after_trial=True)
            return summarize(study, settings)
    finally:
        _restore(levels)
        torch.set_num_threads(threads)


def summarize(study: Any, settings: TuneSettings) -> TuneReport:
    """Report on every trial of the study (all workers) and write the best snippet."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    workers: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
        worker = t.user_attrs.get("worker", "?")
        workers[worker] = workers.get(worker, 0) + 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise FreqaiSeqError(f"No trial of study {settings.study_name!r} has completed yet "
                             f"({states}); see the failures logged above.")
    best = study.best_trial
    snippet = {"freqai": {"model_training_parameters":
                          copy.deepcopy(best.user_attrs["model_training_parameters"])}}
    settings.best_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(settings.best_file) as fh:
        fh.write((json.dumps(snippet, indent=2) + "\n").encode())
    return TuneReport(
        study=settings.study_name, storage=masked(settings.storage_url),
        objective=study.user_attrs.get("objective", {}), states=states, workers=workers,
        best_number=best.number, best_value=float(best.value),
        best={k: v for k, v in best.user_attrs.items() if k != "model_training_parameters"},
        snippet=snippet, best_file=settings.best_file,
        complete_values=[float(t.value) for t in complete],
        trial_seconds=[t.user_attrs["seconds"] for t in complete if "seconds" in t.user_attrs])


def format_report(report: TuneReport) -> str:
    objective = report.objective
    scores = report.best.get("scores", {})
    rows = scores.get("rows", 0)
    label = objective.get("label", "?")
    horizon = int(label.rsplit("_", 1)[-1]) if label[-1:].isdigit() else 1
    # A forecast with no skill has an IC within about +-1.96 / sqrt(independent rows); returns
    # over h candles overlap, so only about rows / h of them are independent.
    noise = 1.96 * math.sqrt(horizon / rows) if rows else math.nan
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.states.items()))
    seconds = (f"{statistics.median(report.trial_seconds):.1f} s per complete trial (median)"
               if report.trial_seconds else "")
    metric = objective.get("metric", "ic")
    lines = [
        f"Study {report.study} ({report.storage}): {sum(report.states.values())} trials "
        f"({states}) by {len(report.workers)} worker(s); {seconds}",
        f"Objective: {metric} of {label} over {', '.join(objective.get('pairs', []))}, "
        f"{len(objective.get('windows', []))} walk-forward windows "
        f"(train {objective.get('train_period_days')} d, predict "
        f"{objective.get('backtest_period_days')} d) ending "
        f"{objective.get('windows', [['', '?']])[-1][1].split('-')[-1]}",
        f"Best trial #{report.best_number}: Spearman IC {scores.get('ic', math.nan):.4f}, "
        f"MSE / zero-forecast MSE {scores.get('mse_ratio', math.nan):.3f}, direction "
        f"{scores.get('direction', math.nan):.3f} over {rows} rows "
        f"(IC per window: {', '.join(f'{v:.3f}' for v in scores.get('window_ic', []))})",
        f"Naive baselines on the same rows: zero forecast IC 0 (no ranking), MSE ratio 1; "
        f"persistence IC {scores.get('persistence_ic', math.nan):.4f}, MSE ratio "
        f"{scores.get('persistence_mse_ratio', math.nan):.3f}",
        f"Noise: a skill-less forecast scores IC within about +-{noise:.3f} on {rows} rows of "
        f"{horizon}-candle returns; median IC of the {len(report.complete_values)} complete "
        f"trials: {statistics.median(report.complete_values):.4f}"
        if metric == "ic" else
        f"Median {metric} of the {len(report.complete_values)} complete trials: "
        f"{statistics.median(report.complete_values):.4f}",
        f"Best parameters (written to {report.best_file}):",
        json.dumps(report.snippet, indent=2),
    ]
    return "\n".join(lines)
