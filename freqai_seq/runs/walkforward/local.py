"""The batches of a spread walk-forward as worker processes on this machine
(`freqai-seq backtest --workers N`): started together, watched until they end, stopped with
the driver."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from freqai_seq.processes import die_with_parent
from freqai_seq.runs.run_config import RunInputs
from freqai_seq.runs.runner import BacktestRequest
from freqai_seq.runs.walkforward.plan import OUTCOME_FILE, WORKER_MODULE, Batch, Outcome
from freqai_seq.runs.walkforward.workdir import prepare_workdir

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 30.0


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
                    [sys.executable, "-m", WORKER_MODULE, "batch", str(workdir)], stdout=out,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=die_with_parent))
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
