"""A walk-forward backtest whose trainings are spread over worker processes
(`freqai-seq backtest --workers N`) or a Dask cluster (`--cluster ADDRESS`): the dispatcher.

FreqAI trains every (pair, window) of a backtest one after another. Here the driver plans the
same windows FreqAI would (its own data kitchen splits the timerange), leaves out the ones whose
prediction file already exists (FreqAI's own rule for reusing a window), deals the rest to N
batches (freqai_seq.runs.walkforward.plan), and each batch is a freqtrade backtest that trains
only its windows (freqai_seq.runs.walkforward.worker), run here (.local) or on a cluster
(.cluster). What the batches write, exactly what FreqAI writes (sub-train folders, models,
metadata, pipelines, prediction files), is collected into the identifier's models folder
(.workdir); then freqtrade's own backtest runs once over all pairs and finds every window's
predictions, so the trades and profit are freqtrade's.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs.freqtrade_log import DONE_TRAINING
from freqai_seq.runs.run_config import check_run_inputs
from freqai_seq.runs.runner import (
    BacktestRequest,
    check_freqtrade_args,
    check_identifier,
    run_backtest,
)
from freqai_seq.runs.walkforward.cluster import check_scheduler, cluster_slots, run_on_cluster
from freqai_seq.runs.walkforward.local import run_local
from freqai_seq.runs.walkforward.plan import (
    Batch,
    Outcome,
    WorkerPlan,
    deal,
    make_tasks,
    planned_windows,
    prediction_file,
    split_rule,
    unfinished,
)
from freqai_seq.runs.walkforward.workdir import collect, training_times

logger = logging.getLogger(__name__)


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
        workers = cluster_slots(plan.cluster)
    logger.info("Walk-forward: %d pairs x %d windows, split by %s into %d tasks; %d already "
                "trained (prediction files in %s), %d to train on %d %s", len(inputs.pairs),
                len(windows), rule, len(tasks), len(tasks) - len(todo), models, len(todo),
                workers, f"Dask worker slots at {plan.cluster}" if plan.cluster
                else "local worker processes")
    trained = 0
    times: tuple[float, ...] = ()
    if todo:
        staging = request.userdir / "walkforward" / request.run_identifier
        shutil.rmtree(staging, ignore_errors=True)
        batches = [Batch(request.strategy, request.model, request.timerange,
                         request.run_identifier, windows, plan.threads, "")
                   for windows in deal(todo, workers)]
        if plan.cluster:
            outcomes = run_on_cluster(plan.cluster, batches, inputs, request, staging)
        else:
            outcomes = run_local(batches, inputs, request, staging)
        workdirs = [staging / f"batch-{i}" for i in range(len(batches))]
        trained = collect(workdirs, models)
        times = training_times(workdirs)
        logger.info("Walk-forward: %d windows trained in %.1f s by %d batches", trained,
                    time.monotonic() - started, len(batches))
        missing = [(p, w) for t in todo for p in t.pairs for w in t.windows
                   if not prediction_file(models, p, w).is_file()]
        if missing or any(o.code != 0 or o.failed_trainings for o in outcomes):
            _report_failures(batches, outcomes, missing, staging)
            code = 130 if any(o.code == 130 for o in outcomes) else 1
            return SpreadRun(code, trained, time.monotonic() - started, 0.0, times)
        shutil.rmtree(staging, ignore_errors=True)
    training_s = time.monotonic() - started
    final_log = log_path or request.userdir / "runs" / f"{request.run_identifier}.backtest.log"
    code = run_backtest(request, final_log)
    retrained = len(DONE_TRAINING.findall(final_log.read_text())) if final_log.exists() else 0
    if code == 0 and retrained:
        logger.error("freqtrade's final backtest trained %d window(s) the workers should have "
                     "trained: their predictions were not reused.", retrained)
        code = 1
    return SpreadRun(code, trained, training_s, time.monotonic() - started - training_s, times)


def _report_failures(batches: list[Batch], outcomes: list[Outcome],
                     missing: list[tuple[str, int]], staging: Path) -> None:
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
