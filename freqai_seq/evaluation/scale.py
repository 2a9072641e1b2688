"""`freqai-seq scale`: how the walk-forward's training phase scales with worker processes.

The same backtest (default: the 5 bundled pairs over the longest history, one LSTM per pair and
window) is run with 1, 2, ... local workers, each training with the same thread count, from an
empty models folder every time. Printed: the training phase (planning, batches, collecting)
and the end-to-end wall time (freqtrade's final backtest over the predictions is serial), each
as a speed-up over the first row, and whether every run's predictions equal the first run's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from freqai_seq import paths
from freqai_seq.commands.runner import evaluation_request
from freqai_seq.commands.walkforward import WorkerPlan, run_spread
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.market.process import market_running

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleSettings:
    workers: tuple[int, ...] = (1, 2)
    timerange: str = "20180101-20190930"  # the longest the bundled candles allow
    configs: tuple[Path, ...] = (paths.CONFIG, paths.EXAMPLES / "config.per-pair.json")
    model: str = "PyTorchLSTMRegressor"
    strategy: str = "FreqaiSeqStrategy"
    threads: int = 1
    userdir: Path = paths.USER_DATA
    out_dir: Path = paths.USER_DATA / "scale"
    pairs: tuple[str, ...] = field(default=())  # default: the config's


@dataclass(frozen=True)
class ScaleRow:
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
    s.out_dir.mkdir(parents=True, exist_ok=True)
    state_file = s.out_dir / "market.json"
    rows: list[ScaleRow] = []
    reference: dict[str, pd.DataFrame] | None = None
    with market_running(paths.DATA_DIR, DEFAULT_HOST, 0, state_file,
                        s.out_dir / "market.log") as market:
        for n in s.workers:
            identifier = f"scale-{n}-workers"
            shutil.rmtree(s.userdir / "models" / identifier, ignore_errors=True)  # train anew
            request = evaluation_request(list(s.configs), s.strategy, s.model, s.timerange,
                                         identifier, s.userdir, market.port, state_file, None)
            if s.pairs:
                request = replace(request, pairs=s.pairs)
            logger.info("scale: %d worker(s), %d thread(s) per training", n, s.threads)
            result = run_spread(request, WorkerPlan(n, s.threads),
                                s.out_dir / f"{identifier}.backtest.log")
            if result.code != 0:
                raise FreqaiSeqError(f"The {n}-worker run failed (exit {result.code}); see the "
                                     "log above.")
            predictions = _predictions(s.userdir / "models" / identifier /
                                       "backtesting_predictions")
            reference = reference if reference is not None else predictions
            rows.append(ScaleRow(n, result.trained, result.training_s, result.final_s,
                                 _same(reference, predictions)))
    report = {"settings": {k: str(v) if isinstance(v, Path) else v
                           for k, v in asdict(s).items()} | {
                               "configs": [str(c) for c in s.configs]},
              "cpu_count": os.cpu_count(), "rows": [asdict(r) | {"total_s": r.total_s}
                                                    for r in rows]}
    (s.out_dir / "scale.json").write_text(json.dumps(report, indent=2))
    return report


def format_report(report: dict[str, Any]) -> str:
    s, rows = report["settings"], report["rows"]
    base = rows[0]
    lines = [
        f"Walk-forward {s['timerange']}, {s['model']} per pair and window "
        f"({', '.join(Path(c).name for c in s['configs'])}), {rows[0]['trainings']} trainings, "
        f"{s['threads']} thread(s) per training, on a machine with {report['cpu_count']} "
        "cores; every run from an empty models folder.",
        "",
        "| workers | trainings | training phase s | speed-up | final backtest s | "
        "end-to-end s | speed-up | predictions equal to 1st row |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['trainings']} | {r['training_s']:.1f} | "
            f"{base['training_s'] / r['training_s']:.2f}x | {r['final_s']:.1f} | "
            f"{r['total_s']:.1f} | {base['total_s'] / r['total_s']:.2f}x | "
            f"{'yes' if r['same_predictions'] else 'NO'} |")
    return "\n".join(lines)
