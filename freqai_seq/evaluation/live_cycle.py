"""`freqai-seq live-cycle`: how long a live bot takes to give every pair a model from the newest
data, with FreqAI's single training thread and with `live_training_workers`.

Each arm runs the fast-replay dry-run (a new 1m candle every minute) from an empty models
folder with `live_retrain_hours: 0`, so the bot retrains without pause, for `minutes`. After the
warm-up (start-up and the first round of trainings) the log's "Done training" lines give, per
pair, the wall time between two successive new models: the cycle. Its median over all pairs is
how stale the oldest pair's model gets; the arms' ratio is the speed-up. The arms: per-pair
networks with 1, 2, ... workers (the workspace's configs with the per-pair overlay), and one
cross-pair network over the workspace's configs (one shared network per cycle, FreqAI's single
thread). The bots run in `<userdir>/live-cycle/<arm>`, emptied first.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from freqai_seq import defaults, paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs import dryrun
from freqai_seq.runs.freqtrade_log import DONE_TRAINING_AT, FAILED_TRAINING
from freqai_seq.runs.workspace import BUNDLED, Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleSettings:
    workers: tuple[int, ...] = (1, 2)
    cross_pair: bool = True  # also the cross-pair arm
    minutes: float = 6.0
    warmup_minutes: float = 2.0
    model: str = defaults.MODEL
    strategy: str = defaults.STRATEGY
    api_port: int = dryrun.API_PORT + 11  # beside a user's own bot and the tests' bots
    # merged over the workspace's configs for the per-pair arms: one network per pair
    per_pair_overlays: tuple[Path, ...] = (paths.EXAMPLES / "config.per-pair.json",)
    workspace: Workspace = BUNDLED  # the bots' configs, candles and pairs; `folder` below

    @property
    def folder(self) -> Path:
        """Where the arms' bots run, each in a user-data folder of its own (emptied first)."""
        return self.workspace.userdir / "live-cycle"


@dataclass(frozen=True)
class Arm:
    name: str
    configs: tuple[Path, ...]
    workers: int
    cross: bool


def arms(s: CycleSettings) -> list[Arm]:
    per_pair = (*s.workspace.configs, *s.per_pair_overlays)
    out = [Arm(f"per-pair, {n} worker(s)", per_pair, n, False) for n in s.workers]
    if s.cross_pair:
        out.append(Arm("cross-pair", s.workspace.configs, 1, True))
    return out


def completions(log: str) -> list[tuple[float, str, float]]:
    """(wall time, pair, training seconds) of every finished training in a bot log."""
    return [(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), pair, float(secs))
            for stamp, pair, secs in DONE_TRAINING_AT.findall(log)]


def cycle_figures(done: list[tuple[float, str, float]], since: float) -> dict[str, Any]:
    """Per pair, the wall time between successive new models after `since`; pooled medians."""
    after = [d for d in done if d[0] >= since]
    by_pair: dict[str, list[float]] = {}
    for at, pair, _ in after:
        by_pair.setdefault(pair, []).append(at)
    gaps = [b - a for times in by_pair.values() for a, b in itertools.pairwise(times)]
    if not gaps:
        raise FreqaiSeqError("No pair was retrained twice after the warm-up: run longer "
                             "(--minutes).")
    return {"retrainings": len(after), "pairs": len(by_pair),
            "training_s": statistics.median(d[2] for d in after),
            "cycle_s": statistics.median(gaps), "cycle_max_s": max(gaps)}


def run_arm(arm: Arm, s: CycleSettings) -> dict[str, Any]:
    userdir = s.folder / arm.name.replace(", ", "-").replace(" ", "-").replace("(s)", "s")
    dryrun.empty_userdir(userdir)
    userdir.mkdir(parents=True, exist_ok=True)
    overlay = userdir / "workers.json"
    params: dict[str, Any] = {"live_training_workers": arm.workers}
    if arm.cross:  # whatever the workspace's configs train
        params["cross_pair"] = True
    overlay.write_text(json.dumps({"freqai": {"model_training_parameters": params}}))
    request = dryrun.DryRunRequest(model=s.model, strategy=s.strategy, pairs=s.workspace.pairs,
                                   configs=(*arm.configs, overlay), datadir=s.workspace.datadir,
                                   userdir=userdir, api_port=s.api_port, fast=True,
                                   retrain_hours=0.0)
    logger.info("live-cycle: %s for %g minutes", arm.name, s.minutes)
    state = dryrun.start(request)
    began = time.time()
    try:
        log_file = Path(state.log_file)
        offset = log_file.stat().st_size
        time.sleep(s.minutes * 60)
        with log_file.open("rb") as fh:
            fh.seek(offset)
            log = fh.read().decode(errors="replace")
    finally:
        dryrun.stop(request.folder)
    figures = cycle_figures(completions(log), began + s.warmup_minutes * 60)
    return {"arm": arm.name, "workers": arm.workers,
            "failed": len(FAILED_TRAINING.findall(log)), **figures}


def run(s: CycleSettings) -> dict[str, Any]:
    return {"minutes": s.minutes, "warmup_minutes": s.warmup_minutes, "model": s.model,
            "cores": os.cpu_count(), "arms": [run_arm(arm, s) for arm in arms(s)]}


def format_report(report: dict[str, Any]) -> str:
    rows = report["arms"]
    base = rows[0]["cycle_s"]
    lines = [
        f"Live retraining cycle of the fast-replay dry-run ({report['model']}, new 1m candle "
        f"every minute, `live_retrain_hours` 0), {report['minutes']:g} minutes per arm, the "
        f"first {report['warmup_minutes']:g} left out, on a machine with {report['cores']} "
        "cores; cycle = wall time between two new models of the same pair (median over pairs "
        "and rounds).",
        "",
        "| bot | pairs | retrainings | failed | training s (median) | cycle s (median) | "
        "cycle s (max) | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['arm']} | {r['pairs']} | {r['retrainings']} | {r['failed']} | "
                     f"{r['training_s']:.2f} | {r['cycle_s']:.1f} | {r['cycle_max_s']:.1f} | "
                     f"{base / r['cycle_s']:.2f}x |")
    return "\n".join(lines)
