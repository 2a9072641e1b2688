"""`freqai-seq soak`: does a live bot stay bounded over many retrainings?

Runs the fast-replay dry-run (a new 1m candle every minute, every pair retrained every
`retrain_minutes`) on the workspace's configs, candles and pairs for `hours` in a user-data folder
of its own (`<userdir>/soak`, emptied first), sampling the bot process (RSS, open
files, threads) and FreqAI's stores on disk (model folders, `historic_predictions.pkl`, the
cross-pair networks) every `sample_s` seconds. Samples are appended to a JSONL file as they come,
so a killed soak keeps what it measured.

The report regresses each quantity on the number of finished retrainings after the warm-up
(the first `warmup_minutes`: imports, first trainings, caches filling), with a moving-block
bootstrap CI of the slope (neighbouring samples are correlated, so a plain OLS interval would be
too narrow). Goal of the scale-out issue: the RSS slope's CI includes 0 and its upper end is
under 5 MB per 100 retrainings.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from freqai_seq import defaults
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.validation.forecast_metrics import date_block_counts
from freqai_seq.runs import dryrun
from freqai_seq.runs.freqtrade_log import DONE_TRAINING, FAILED_TRAINING
from freqai_seq.runs.workspace import BUNDLED, Workspace

logger = logging.getLogger(__name__)

RSS_GOAL_MB = 5.0  # per 100 retrainings: the upper end of the slope's CI must stay below
RESAMPLES = 2000
SETTINGS_FILE = "settings.json"
SAMPLES_FILE = "samples.jsonl"
PROGRESS_EVERY_S = 300.0
QUANTITIES = {  # sample field: (label, unit)
    "rss_mb": ("RSS", "MB"),
    "open_files": ("open files", "files"),
    "threads": ("threads", "threads"),
    "models_mb": ("models folder", "MB"),
    "model_folders": ("model folders", "folders"),
    "historic_mb": ("historic_predictions.pkl", "MB"),
}


class SoakFailed(Exception):
    """The bot died during the soak: the job failed (exit 1)."""


@dataclass(frozen=True)
class SoakSettings:
    hours: float = 2.0
    sample_s: float = 30.0
    warmup_minutes: float = 20.0
    retrain_minutes: float = 1.0  # FreqAI's live_retrain_hours, in minutes of wall clock
    model: str = defaults.MODEL
    strategy: str = defaults.STRATEGY
    training_params: Path | None = None
    api_port: int = dryrun.API_PORT + 10  # beside a user's own bot and the tests' bots
    workspace: Workspace = BUNDLED  # the bot's configs, candles and pairs; `userdir` below

    @property
    def userdir(self) -> Path:
        """The bot's own user-data folder (emptied first): never the workspace's itself."""
        return self.workspace.userdir / "soak"


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the bot answered
    retrainings: int
    failed: int
    rss_mb: float
    open_files: int
    threads: int
    models_mb: float
    model_folders: int
    historic_mb: float


@dataclass(frozen=True)
class Trend:
    first: float
    last: float
    low: float
    high: float
    slope: float  # per 100 retrainings
    ci_low: float
    ci_high: float


def _mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    if not path.is_dir():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


class LogCounter:
    """Finished and failed trainings in the bot's log, read incrementally."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.is_file() else 0
        self.done = 0
        self.failed = 0

    def update(self) -> None:
        if not self.log.is_file():
            return
        with self.log.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        text = complete.decode(errors="replace")
        self.done += len(DONE_TRAINING.findall(text))
        self.failed += len(FAILED_TRAINING.findall(text))


def take_sample(process: Any, models: Path, counter: LogCounter, began: float) -> Sample:
    counter.update()
    with process.oneshot():
        rss = process.memory_info().rss / 2**20
        files = process.num_fds()
        threads = process.num_threads()
    folders = sum(1 for p in models.glob("sub-train-*") if p.is_dir()) if models.is_dir() else 0
    return Sample(round(time.monotonic() - began, 1), counter.done, counter.failed, round(rss, 2),
                  files, threads, round(_mb(models), 3), folders,
                  round(_mb(models / "historic_predictions.pkl"), 4))


def trend(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Trend:
    """OLS slope of y on x (per 100 x) with a 95 % moving-block bootstrap CI."""
    if np.ptp(y) == 0:  # flat: exactly 0, not the rounding noise of a regression
        return Trend(float(y[0]), float(y[-1]), float(y[0]), float(y[0]), 0.0, 0.0, 0.0)
    slope = _slope(x, y, np.ones_like(x))
    weights = date_block_counts(np.arange(len(x)), 1, RESAMPLES, np.random.default_rng(seed))
    draws = np.array([_slope(x, y, w) for w in weights])
    draws = draws[np.isfinite(draws)]
    low, high = (np.percentile(draws, [2.5, 97.5]) if len(draws) else (math.nan, math.nan))
    return Trend(float(y[0]), float(y[-1]), float(y.min()), float(y.max()), 100 * slope,
                 100 * float(low), 100 * float(high))


def _slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    mx, my = (w * x).sum() / total, (w * y).sum() / total
    spread = (w * (x - mx) ** 2).sum()
    return float((w * (x - mx) * (y - my)).sum() / spread) if spread > 0 else math.nan


def settings_record(settings: SoakSettings) -> dict[str, Any]:
    ws = settings.workspace
    flat = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "workspace"}
    flat |= {"configs": ws.configs, "pairs": ws.pairs, "datadir": ws.datadir,
             "userdir": settings.userdir}
    return {k: [str(x) for x in v] if isinstance(v, tuple) else
            str(v) if isinstance(v, Path) else v for k, v in flat.items()}


def read_soak(folder: Path) -> tuple[dict[str, Any], list[Sample]]:
    """The settings and samples a soak wrote to `folder` (a killed soak's included: a last
    line cut by the kill is left out)."""
    try:
        settings = json.loads((folder / SETTINGS_FILE).read_text())
        lines = (folder / SAMPLES_FILE).read_text().splitlines()
    except FileNotFoundError as exc:
        raise FreqaiSeqError(f"No soak in {folder}: {exc.filename} is missing.") from exc
    samples = []
    for number, line in enumerate(lines, 1):
        try:
            samples.append(Sample(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            if number < len(lines):
                raise FreqaiSeqError(f"{folder / SAMPLES_FILE} line {number} is not a soak "
                                     f"sample: {exc}") from exc
            logger.warning("Left out the cut last line of %s", folder / SAMPLES_FILE)
    return settings, samples


def analyse(samples: list[Sample], settings: dict[str, Any]) -> dict[str, Any]:
    """`settings`: the soak's, as `settings_record` wrote them."""
    warmup = settings["warmup_minutes"]
    after = [s for s in samples if s.seconds >= warmup * 60]
    x = np.array([s.retrainings for s in after], dtype=float)
    if len(after) < 10 or x[-1] - x[0] < 10:
        raise FreqaiSeqError(
            f"Too little to measure after the {warmup:g}-minute warm-up: "
            f"{len(after)} samples, {0 if not len(x) else int(x[-1] - x[0])} retrainings. Run "
            "longer (--hours) or sample more often (--sample-s).")
    trends = {name: asdict(trend(x, np.array([getattr(s, name) for s in after], dtype=float)))
              for name in QUANTITIES}
    rss = trends["rss_mb"]
    return {"settings": settings, "hours": samples[-1].seconds / 3600, "samples": len(samples),
            "samples_after_warmup": len(after),
            "retrainings": samples[-1].retrainings, "failed": samples[-1].failed,
            "retrainings_after_warmup": int(x[-1] - x[0]), "trends": trends,
            "rss_goal_met": bool(rss["ci_low"] <= 0 <= rss["ci_high"]
                                 and rss["ci_high"] < RSS_GOAL_MB)}


def format_report(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"Soak of the fast-replay dry-run: {report['hours']:.2f} h, {s['model']} / "
        f"{s['strategy']}, every pair retrained every {s['retrain_minutes']:g} min; "
        f"{report['retrainings']} retrainings ({report['failed']} failed), "
        f"{report['retrainings_after_warmup']} after the {s['warmup_minutes']:g}-minute warm-up "
        f"({report['samples_after_warmup']} samples every {s['sample_s']:g} s).",
        "",
        "| after warm-up | first | last | min | max | slope per 100 retrainings [95 % CI] |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, (label, unit) in QUANTITIES.items():
        t = report["trends"][name]
        lines.append(f"| {label} ({unit}) | {t['first']:.4g} | {t['last']:.4g} | {t['low']:.4g} "
                     f"| {t['high']:.4g} | {t['slope']:+.3g} [{t['ci_low']:+.3g}, "
                     f"{t['ci_high']:+.3g}] |")
    rss = report["trends"]["rss_mb"]
    lines += ["", f"RSS goal (CI includes 0, upper end under {RSS_GOAL_MB:g} MB per 100 "
                  f"retrainings): {'met' if report['rss_goal_met'] else 'not met'} "
                  f"({rss['slope']:+.3g} [{rss['ci_low']:+.3g}, {rss['ci_high']:+.3g}])."]
    return "\n".join(lines)


def run(settings: SoakSettings, out: Path) -> dict[str, Any]:
    """Soak, writing settings and samples to `out` as they come; the report."""
    import psutil

    dryrun.empty_userdir(settings.userdir)
    request = dryrun.DryRunRequest(
        model=settings.model, strategy=settings.strategy, pairs=settings.workspace.pairs,
        configs=settings.workspace.configs, training_params=settings.training_params,
        datadir=settings.workspace.datadir, userdir=settings.userdir,
        api_port=settings.api_port, fast=True, retrain_hours=settings.retrain_minutes / 60)
    out.mkdir(parents=True, exist_ok=True)
    record = settings_record(settings)
    (out / SETTINGS_FILE).write_text(json.dumps(record, indent=2))
    samples_file = out / SAMPLES_FILE
    samples: list[Sample] = []
    state = dryrun.start(request)
    try:
        process = psutil.Process(state.pid)
        counter = LogCounter(Path(state.log_file))
        models = settings.userdir / "models" / request.identifier
        began = time.monotonic()
        end = began + settings.hours * 3600
        report_at = began + PROGRESS_EVERY_S
        with samples_file.open("w") as out:
            while time.monotonic() < end:
                try:
                    sample = take_sample(process, models, counter, began)
                except psutil.NoSuchProcess as exc:
                    raise SoakFailed(f"The bot (pid {state.pid}) died after "
                                     f"{(time.monotonic() - began) / 60:.1f} min: see "
                                     f"{state.log_file}; the samples so far are in "
                                     f"{samples_file}") from exc
                samples.append(sample)
                out.write(json.dumps(asdict(sample)) + "\n")
                out.flush()
                if time.monotonic() >= report_at:
                    report_at += PROGRESS_EVERY_S
                    logger.info("Soak %.0f/%.0f min: %d retrainings (%d failed), RSS %.0f MB, "
                                "%d open files, %d threads, models %.1f MB",
                                sample.seconds / 60, settings.hours * 60, sample.retrainings,
                                sample.failed, sample.rss_mb, sample.open_files, sample.threads,
                                sample.models_mb)
                time.sleep(max(0.0, min(settings.sample_s, end - time.monotonic())))
    finally:
        dryrun.stop(request.folder)
    return analyse(samples, record)
