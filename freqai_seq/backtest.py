"""Offline `freqtrade backtesting` with FreqAI: starts the market if needed, runs freqtrade."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.json_files import read_json_object
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.market.process import MarketState, market_running

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestRequest:
    configs: list[Path] | None
    strategy: str
    model: str
    timerange: str
    identifier: str | None
    datadir: Path
    userdir: Path
    host: str
    port: int
    state_file: Path
    log_file: Path
    training_params: Path | None = None
    extra: list[str] = field(default_factory=list)
    pairs: tuple[str, ...] = ()  # replaces the config's pair_whitelist when given
    # user_data/runs/<identifier><suffix>.json: a run that reuses another run's identifier
    # (plots of a backtest) keeps that run's recorded config intact
    run_config_suffix: str = ""

    @property
    def run_identifier(self) -> str:
        if self.identifier:
            return self.identifier
        return re.sub(r"[^a-z0-9]+", "-", f"{self.model}-{self.strategy}".lower())


def write_run_config(request: BacktestRequest, market: MarketState) -> Path:
    """One self-contained config for this run: the user's configs, the offline URLs of the
    running market, the run's identifier and, when given, its training parameters."""
    from freqtrade.configuration.load_config import load_from_files
    from freqtrade.misc import deep_merge_dicts

    configs = request.configs or [Path("config.json")]
    for config in configs:
        if not config.exists():
            raise FreqaiSeqError(f"Config file {config} not found (run from the repository root "
                                 "or pass -c).")
    merged = load_from_files([str(c) for c in configs])
    merged.pop("config_files", None)
    merged = deep_merge_dicts(offline_overlay(market.host, market.port), merged)
    merged["freqai"]["identifier"] = request.run_identifier
    # Recorded so `freqai-seq validate` can rebuild the run's features from this file alone.
    merged.update(strategy=request.strategy, freqaimodel=request.model,
                  timerange=request.timerange)
    if request.training_params is not None:
        # Config files merge dicts key by key; another model needs its own keys only.
        merged["freqai"]["model_training_parameters"] = read_json_object(
            request.training_params, "--training-params")
    if request.pairs:
        merged["exchange"]["pair_whitelist"] = list(request.pairs)
    runs = request.userdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{request.run_identifier}{request.run_config_suffix}.json"
    path.write_text(json.dumps(merged, indent=2))
    return path


FREQTRADE = ("-m", "freqtrade")  # how the interpreter starts freqtrade's command line


def freqtrade_command(request: BacktestRequest, run_config: Path,
                      subcommand: str = "backtesting",
                      launcher: tuple[str, ...] = FREQTRADE) -> list[str]:
    cmd = [sys.executable, *launcher, subcommand, "-c", str(run_config),
           "--strategy", request.strategy, "--freqaimodel", request.model,
           "--timerange", request.timerange, "--userdir", str(request.userdir),
           "--datadir", str(request.datadir)]
    extra = request.extra[1:] if request.extra[:1] == ["--"] else request.extra
    if subcommand == "backtesting" and "--cache" not in extra:
        # freqtrade's result cache keys on config and strategy, not on the FreqAI model's code or
        # its folder: a cached result would skip FreqAI (and the models validate re-runs).
        extra = [*extra, "--cache", "none"]
    return cmd + extra


def run_offline(request: BacktestRequest, subcommand: str = "backtesting",
                log_path: Path | None = None,
                launcher: tuple[str, ...] = FREQTRADE,
                columns: int | None = None) -> tuple[int, int, str]:
    """`freqtrade <subcommand>` with the request's run config against the offline market
    (started for the run unless one is running). Returns freqtrade's exit code, the number of
    failed FreqAI trainings and the last lines of freqtrade's output (all of it is echoed, and
    written to `log_path` when given). `columns`: the width of freqtrade's virtual terminal
    (default: wide enough for one line per log record)."""
    if not any(request.datadir.glob("*.feather")):
        raise FreqaiSeqError(f"No candle files in {request.datadir}: run `freqai-seq data` "
                             "(or `make data`) first.")
    with market_running(request.datadir, request.host, request.port, request.state_file,
                        request.log_file) as market:
        cmd = freqtrade_command(request, write_run_config(request, market), subcommand,
                                launcher)
        logger.info("Running: %s", " ".join(cmd))
        logger.info("FreqAI identifier %s: models and predictions go to %s",
                    request.run_identifier, request.userdir / "models" / request.run_identifier)
        return _run_and_count_failed_trainings(cmd, log_path, columns or WIDE_TERMINAL)


def run_backtest(request: BacktestRequest, log_path: Path | None = None) -> int:
    """Run the backtest; its output also goes to `log_path` when given."""
    code, failed, _ = run_offline(request, "backtesting", log_path)
    if code != 0:
        logger.error("freqtrade backtesting failed with exit code %d", code)
        return code
    if failed:
        logger.error("%d FreqAI trainings failed and were skipped (their windows got no "
                     "predictions); see the warnings above. Exiting non-zero.", failed)
        return 1
    return 0


FAILED_TRAINING = re.compile(r"Training \S+ raised exception")
OUTPUT_TAIL_LINES = 500  # enough for freqtrade's closing tables
WIDE_TERMINAL = 4000


def _run_and_count_failed_trainings(cmd: list[str], log_path: Path | None,
                                    columns: int = WIDE_TERMINAL) -> tuple[int, int, str]:
    """Run freqtrade, echoing its output; FreqAI logs a failed training and carries on, so the
    failures are counted here to keep them from looking like a successful backtest."""
    failed = 0
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    log = log_path.open("w") if log_path else None
    # Without a terminal freqtrade's rich log handler wraps lines at 80 columns, which would
    # split the messages counted here; a wide virtual terminal keeps each record on one line.
    env = {**os.environ, "COLUMNS": str(columns)}
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1, env=env) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    tail.append(line)
                    if log:
                        log.write(line)
                    if FAILED_TRAINING.search(line):
                        failed += 1
            except BaseException:  # interrupted: freqtrade must not outlive us
                proc.terminate()
                raise
            sys.stdout.flush()
    finally:
        if log:
            log.close()
    return proc.returncode, failed, "".join(tail)
