"""`freqai-seq scale`: how the walk-forward's training phase scales with worker processes.

The same backtest (default: the bundled config's 5 pairs over the longest history, one LSTM per
pair and window) is run with 1, 2, ... local workers, each training with the same thread count,
from an empty models folder every time, `repeat` rounds with the worker counts interleaved (so a
machine that slows down during the run slows every count alike). Printed per count: the median
training phase (planning, batches, collecting) and end-to-end wall time (freqtrade's final
backtest over the predictions is serial) with their ranges, each as a speed-up of medians over
the first row, and whether every run's predictions equal the first run's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from freqai_seq import defaults, paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.measured import evaluation_request
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.market.process import market_running
from freqai_seq.runs.walkforward.plan import WorkerPlan
from freqai_seq.runs.walkforward.spread import run_spread
from freqai_seq.runs.workspace import BUNDLED, Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleSettings:
    workers: tuple[int, ...] = (1, 2)
    timerange: str = "20180101-20190930"  # the longest the bundled candles allow
    # merged over the workspace's configs: one network per pair and window, what the workers
    # spread (the cross-pair network trains once per window)
    overlays: tuple[Path, ...] = (paths.EXAMPLES / "config.per-pair.json",)
    model: str = defaults.MODEL
    strategy: str = defaults.STRATEGY
    threads: int = 1
    repeat: int = 3
    out_dir: Path = paths.USER_DATA / "scale"
    workspace: Workspace = BUNDLED  # the runs' configs, candles, user data and pairs


@dataclass(frozen=True)
class ScaleRun:
    workers: int
    trainings: int
    training_s: float
    final_s: float
    same_predictions: bool

    @property
    def total_s(self) -> float:
        return self.training_s + self.final_s


def _predictions(folder: Path) -> dict[str, pd.DataFrame]:
    return {f.name: pd.read_feather(f) for f in sorted(folder.glob("*_prediction.feather"))}


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    return list(a) == list(b) and all(a[k].equals(b[k]) for k in a)


def run(s: ScaleSettings) -> dict[str, Any]:
    userdir = s.workspace.userdir
    s.out_dir.mkdir(parents=True, exist_ok=True)
    state_file = s.out_dir / "market.json"
    runs: list[ScaleRun] = []
    reference: dict[str, pd.DataFrame] | None = None
    with market_running(s.workspace.datadir, DEFAULT_HOST, 0, state_file,
                        s.out_dir / "market.log") as market:
        for n in [n for _ in range(s.repeat) for n in s.workers]:
            identifier = f"scale-{n}-workers"
            shutil.rmtree(userdir / "models" / identifier, ignore_errors=True)  # train anew
            request = evaluation_request(s.workspace, list(s.overlays), s.strategy, s.model,
                                         s.timerange, identifier, market.port, state_file, None)
            logger.info("scale: %d worker(s), %d thread(s) per training", n, s.threads)
            result = run_spread(request, WorkerPlan(n, s.threads),
                                s.out_dir / f"{identifier}.backtest.log")
            if result.code != 0:
                raise FreqaiSeqError(f"The {n}-worker run failed (exit {result.code}); see the "
                                     "log above.")
            predictions = _predictions(userdir / "models" / identifier /
                                       "backtesting_predictions")
            reference = reference if reference is not None else predictions
            runs.append(ScaleRun(n, result.trained, result.training_s, result.final_s,
                                 _same(reference, predictions)))
    settings = {f.name: getattr(s, f.name) for f in fields(s)
                if f.name not in ("overlays", "workspace")}
    report = {"settings": {k: str(v) if isinstance(v, Path) else v
                           for k, v in settings.items()} | {
                               "configs": [str(c) for c in (*s.workspace.configs, *s.overlays)],
                               "userdir": str(userdir), "pairs": list(s.workspace.pairs),
                               "datadir": str(s.workspace.datadir)},
              "cpu_count": os.cpu_count(), "runs": [asdict(r) | {"total_s": r.total_s}
                                                    for r in runs]}
    (s.out_dir / "scale.json").write_text(json.dumps(report, indent=2))
    return report


def format_report(report: dict[str, Any]) -> str:
    s, runs = report["settings"], report["runs"]
    by_count = {n: [r for r in runs if r["workers"] == n] for n in s["workers"]}

    def median(n: int, key: str) -> float:
        return statistics.median(r[key] for r in by_count[n])

    def spread(n: int, key: str) -> str:
        values = [r[key] for r in by_count[n]]
        return f"{median(n, key):.1f} ({min(values):.1f}-{max(values):.1f})"

    first = s["workers"][0]
    lines = [
        f"Walk-forward {s['timerange']}, {s['model']} per pair and window "
        f"({', '.join(Path(c).name for c in s['configs'])}), {runs[0]['trainings']} "
        f"trainings, {s['threads']} thread(s) per training, on a machine with "
        f"{report['cpu_count']} cores; {s['repeat']} rounds with the worker counts interleaved, "
        "every run from an empty models folder; median (min-max) seconds, speed-ups of medians "
        f"over {first} worker(s).",
        "",
        "| workers | training phase s | speed-up | final backtest s | end-to-end s | speed-up "
        "| predictions equal to the first run's |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for n in s["workers"]:
        same = all(r["same_predictions"] for r in by_count[n])
        lines.append(
            f"| {n} | {spread(n, 'training_s')} | "
            f"{median(first, 'training_s') / median(n, 'training_s'):.2f}x | "
            f"{spread(n, 'final_s')} | {spread(n, 'total_s')} | "
            f"{median(first, 'total_s') / median(n, 'total_s'):.2f}x | "
            f"{'yes' if same else 'NO'} |")
    return "\n".join(lines)
