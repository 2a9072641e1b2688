"""One worker of a spread walk-forward (freqai_seq.runs.walkforward.spread): the process a batch
runs in, started by freqai_seq.runs.walkforward.local or .cluster.

`python -m freqai_seq.runs.walkforward.worker batch WORKDIR` runs the batch described by
`WORKDIR/batch.json`: freqtrade's own backtest of the batch's pairs over the whole timerange,
against a market of its own, with FreqAI's training windows cut down to the batch's windows,
so FreqAI trains and writes exactly those (sub-train folders, models, prediction files) and
nothing else. Every pair's candles are loaded and its features computed over the whole
timerange, as in a single backtest, so each training sees the same rows as there.
`WORKDIR/outcome.json` records the result; what finished is in `WORKDIR/user_data/models/`
even when the batch did not.

`python -m freqai_seq.runs.walkforward.worker freqtrade --windows FILE <freqtrade args>` is
that freqtrade command line with the cut applied (the batch's launcher).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from freqai_seq.market import DEFAULT_HOST
from freqai_seq.runs.runner import BacktestRequest, run_offline
from freqai_seq.runs.walkforward.plan import (
    FAILED_FILE,
    OUTCOME_FILE,
    WORKER_MODULE,
    Batch,
    Outcome,
)


def run_batch(workdir: Path) -> Outcome:
    """Run the batch in `workdir` and record its outcome there."""
    batch = Batch.read(workdir)
    (workdir / "windows.json").write_text(json.dumps(batch.windows))
    request = BacktestRequest(
        configs=[workdir / batch.config], strategy=batch.strategy, model=batch.model,
        timerange=batch.timerange, identifier=batch.identifier,
        datadir=Path(batch.datadir) if batch.datadir else workdir / "data",
        userdir=workdir / "user_data", host=DEFAULT_HOST, port=None,
        state_file=workdir / "market.json", log_file=workdir / "market.log",
        pairs=tuple(batch.windows))
    threads = str(batch.threads)
    try:
        code, failed, tail = run_offline(
            request, "backtesting", workdir / "freqtrade.log",
            launcher=("-m", WORKER_MODULE, "freqtrade", "--windows",
                      str(workdir / "windows.json")),
            env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    except KeyboardInterrupt:
        code, failed, tail = 130, 0, "interrupted"
    outcome = Outcome(code, failed, tail)
    (workdir / OUTCOME_FILE).write_text(json.dumps(asdict(outcome)))
    return outcome


def _cut_windows(windows: dict[str, list[int]], failed: Path) -> None:
    """FreqAI's data kitchen of a listed pair keeps only the listed training windows, and each
    training FreqAI gives up on is recorded in `failed`."""
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
    from freqtrade.freqai.freqai_interface import IFreqaiModel

    append_null = IFreqaiModel._append_null_backtesting_predictions

    def record_failure(self: Any, dk: Any, dataframe_backtest: Any) -> None:
        with failed.open("a") as out:
            out.write(json.dumps([dk.pair, int(dk.model_filename.rsplit("_", 1)[1])]) + "\n")
        append_null(self, dk, dataframe_backtest)

    IFreqaiModel._append_null_backtesting_predictions = record_failure  # type: ignore[method-assign]

    original = FreqaiDataKitchen.__init__

    def __init__(self: Any, config: Any, live: bool = False, pair: str = "") -> None:
        original(self, config, live, pair)
        if live or pair not in windows or self.backtest_live_models:
            return
        keep = [i for i, tr in enumerate(self.training_timeranges)
                if int(tr.stopts) in set(windows[pair])]
        self.training_timeranges = [self.training_timeranges[i] for i in keep]
        self.backtesting_timeranges = [self.backtesting_timeranges[i] for i in keep]

    FreqaiDataKitchen.__init__ = __init__  # type: ignore[method-assign]


def _unwind_once() -> None:
    """The first SIGINT or SIGTERM unwinds the batch like Ctrl-C, stopping its freqtrade and
    its market; the ones after it are ignored. Ctrl-C in a terminal reaches the driver and its
    workers at once, and the driver then stops each worker with SIGTERM: that second signal
    would cut the unwinding short and leave the batch's market and freqtrade to exit by
    themselves after the command has (the unwinding is bounded: each stop kills after a
    timeout)."""

    def interrupt(signum: int, frame: object) -> None:
        for ignored in (signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        raise KeyboardInterrupt

    for caught in (signal.SIGINT, signal.SIGTERM):
        signal.signal(caught, interrupt)


def main(argv: list[str]) -> int:
    if argv[:1] == ["batch"] and len(argv) == 2:
        import logging

        _unwind_once()
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
        return run_batch(Path(argv[1])).code
    if argv[:2] == ["freqtrade", "--windows"] and len(argv) > 3:
        import torch

        threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        if threads:
            torch.set_num_threads(threads)
        windows = Path(argv[2])
        _cut_windows(json.loads(windows.read_text()), windows.with_name(FAILED_FILE))
        from freqtrade.main import main as freqtrade_main

        freqtrade_main(argv[3:])
        return 0
    print(f"usage: python -m {WORKER_MODULE} batch WORKDIR | "
          "freqtrade --windows FILE <freqtrade arguments>", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
