"""Offline `freqtrade backtesting` with FreqAI: starts the market if needed, runs freqtrade."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST, DEFAULT_PORT
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.market.process import MarketState, market_running

logger = logging.getLogger(__name__)

COMMITTED_OVERLAY = Path("config.offline.json")


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

    @property
    def run_identifier(self) -> str:
        if self.identifier:
            return self.identifier
        return re.sub(r"[^a-z0-9]+", "-", f"{self.model}-{self.strategy}".lower())


def _overlays(request: BacktestRequest, market: MarketState) -> list[Path]:
    """Offline URLs for the market's port, plus the FreqAI identifier of this run."""
    runs = request.userdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    if market.host == DEFAULT_HOST and market.port == DEFAULT_PORT and COMMITTED_OVERLAY.exists():
        offline = COMMITTED_OVERLAY
    else:
        offline = runs / f"config.offline.{market.port}.json"
        offline.write_text(json.dumps(offline_overlay(market.host, market.port), indent=2))
    run_overlay: dict = {"identifier": request.run_identifier}
    if request.training_params is not None:
        try:
            params = json.loads(request.training_params.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FreqaiSeqError(f"Cannot read --training-params {request.training_params}: "
                                 f"{exc}") from exc
        if not isinstance(params, dict):
            raise FreqaiSeqError(f"{request.training_params} must hold a JSON object.")
        # Config files merge dicts key by key; a different model needs its own keys only.
        run_overlay["model_training_parameters"] = params
    run = runs / f"{request.run_identifier}.json"
    run.write_text(json.dumps({"freqai": run_overlay}, indent=2))
    return [offline, run]


def freqtrade_command(request: BacktestRequest, overlays: list[Path]) -> list[str]:
    from freqtrade.configuration.load_config import load_from_files

    configs = request.configs or [Path("config.json")]
    for config in configs:
        if not config.exists():
            raise FreqaiSeqError(f"Config file {config} not found (run from the repository root "
                                 "or pass -c).")
    merged = load_from_files([str(c) for c in [*configs, *overlays]])
    if request.training_params is not None:
        merged["freqai"]["model_training_parameters"] = json.loads(
            overlays[-1].read_text())["freqai"]["model_training_parameters"]
    merged.pop("config_files", None)
    run_config = overlays[-1].with_suffix(".merged.json")
    run_config.write_text(json.dumps(merged, indent=2))
    cmd = [sys.executable, "-m", "freqtrade", "backtesting", "-c", str(run_config)]
    cmd += ["--strategy", request.strategy, "--freqaimodel", request.model,
            "--timerange", request.timerange, "--userdir", str(request.userdir),
            "--datadir", str(request.datadir)]
    extra = request.extra[1:] if request.extra[:1] == ["--"] else request.extra
    return cmd + extra


def run_backtest(request: BacktestRequest, log_path: Path | None = None) -> int:
    """Run the backtest; its output also goes to `log_path` when given."""
    if not any(request.datadir.glob("*.feather")):
        raise FreqaiSeqError(f"No candle files in {request.datadir}: run `freqai-seq data` "
                             "(or `make data`) first.")
    with market_running(request.datadir, request.host, request.port, request.state_file,
                        request.log_file) as market:
        cmd = freqtrade_command(request, _overlays(request, market))
        logger.info("Running: %s", " ".join(cmd))
        logger.info("FreqAI identifier %s: models and predictions go to %s",
                    request.run_identifier, request.userdir / "models" / request.run_identifier)
        code, failed = _run_and_count_failed_trainings(cmd, log_path)
    if code != 0:
        logger.error("freqtrade backtesting failed with exit code %d", code)
        return code
    if failed:
        logger.error("%d FreqAI trainings failed and were skipped (their windows got no "
                     "predictions); see the warnings above. Exiting non-zero.", failed)
        return 1
    return 0


FAILED_TRAINING = re.compile(r"Training \S+ raised exception")


def _run_and_count_failed_trainings(cmd: list[str], log_path: Path | None) -> tuple[int, int]:
    """Run freqtrade, echoing its output; FreqAI logs a failed training and carries on, so the
    failures are counted here to keep them from looking like a successful backtest."""
    failed = 0
    log = log_path.open("w") if log_path else None
    # Without a terminal freqtrade's rich log handler wraps lines at 80 columns, which would
    # split the messages counted here; a wide virtual terminal keeps each record on one line.
    env = {**os.environ, "COLUMNS": "4000"}
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1, env=env) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                if log:
                    log.write(line)
                if FAILED_TRAINING.search(line):
                    failed += 1
            sys.stdout.flush()
    finally:
        if log:
            log.close()
    return proc.returncode, failed
