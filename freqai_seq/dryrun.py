"""`freqai-seq dryrun`: `freqtrade trade --dry-run` with FreqAI against the replay market.

Everything it writes stays in user_data/ (git-ignored): the local config with the REST API
credentials (generated once, never printed in full), the bot's state file, log and database.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freqai_seq import paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.market import process as market
from freqai_seq.market.overlay import offline_overlay

logger = logging.getLogger(__name__)

API_PORT = 18780


@dataclass(frozen=True)
class DryRunRequest:
    model: str = "PyTorchLSTMRegressor"
    strategy: str = "FreqaiSeqStrategy"
    replay_start_ms: int = 1_564_617_600_000  # 2019-08-01 00:00 UTC
    pairs: tuple[str, ...] = ()
    configs: tuple[Path, ...] = (Path("config.json"),)
    training_params: Path | None = None
    datadir: Path = paths.DATA_DIR
    userdir: Path = paths.USER_DATA
    api_port: int = API_PORT

    @property
    def folder(self) -> Path:
        return self.userdir / "dryrun"

    @property
    def identifier(self) -> str:
        return f"dryrun-{self.model.lower()}"


@dataclass(frozen=True)
class BotState:
    pid: int
    api_url: str
    market_state_file: str
    log_file: str


def local_config(folder: Path, api_port: int) -> Path:
    """The REST API settings with credentials made once for this machine."""
    path = folder / "dryrun.local.json"
    if path.exists():
        config = json.loads(path.read_text())
        config["api_server"]["listen_port"] = api_port
    else:
        config = {"api_server": {
            "enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": api_port,
            "verbosity": "error", "CORS_origins": [], "username": "freqai-seq",
            "password": secrets.token_urlsafe(18), "jwt_secret_key": secrets.token_hex(32),
            "ws_token": secrets.token_urlsafe(24)}}
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def run_overlay(request: DryRunRequest, market_state: market.MarketState) -> dict[str, Any]:
    overlay = offline_overlay(market_state.host, market_state.port)
    # FreqAI predicts when a new candle arrives (it refuses process_only_new_candles false), so
    # the first usable prediction comes with the first candle after the first training.
    overlay.update(initial_state="running", dry_run=True)
    overlay["freqai"] = {"identifier": request.identifier, "live_retrain_hours": 1}
    if request.pairs:
        overlay["exchange"]["pair_whitelist"] = list(request.pairs)
    if request.training_params:
        overlay["freqai"]["model_training_parameters"] = json.loads(
            request.training_params.read_text())
    return overlay


def bot_state(folder: Path) -> BotState | None:
    try:
        state = BotState(**json.loads((folder / "bot.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return None
    return state


def start(request: DryRunRequest) -> BotState:
    folder = request.folder
    if (running := bot_state(folder)) is not None:
        raise FreqaiSeqError(f"A dry-run bot already runs (pid {running.pid}, {running.api_url}): "
                             "`freqai-seq dryrun stop` first.")
    market_file = folder / "market.json"
    market_state, _ = market.start(request.datadir, DEFAULT_HOST, 0, market_file,
                                   folder / "market.log", replay_start_ms=request.replay_start_ms)
    overlay = folder / "run.json"
    overlay.write_text(json.dumps(run_overlay(request, market_state), indent=2))
    local = local_config(folder, request.api_port)
    log_file = folder / "bot.log"
    cmd = [sys.executable, "-m", "freqtrade", "trade", "--dry-run",
           *[a for c in request.configs for a in ("-c", str(c))], "-c", str(overlay),
           "-c", str(local), "--strategy", request.strategy, "--freqaimodel", request.model,
           "--db-url", f"sqlite:///{(folder / 'trades.sqlite').resolve()}",
           "--userdir", str(request.userdir), "--datadir", str(folder / "data")]
    with log_file.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "COLUMNS": "4000"})
    state = BotState(proc.pid, f"http://127.0.0.1:{request.api_port}", str(market_file),
                     str(log_file))
    (folder / "bot.json").write_text(json.dumps(asdict(state)))
    logger.info("Dry-run bot pid %d: REST API %s (user and password in %s), log %s",
                proc.pid, state.api_url, local, log_file)
    return state


def stop(folder: Path, timeout_s: float = 60.0) -> bool:
    """Stop the bot (SIGTERM, then SIGKILL) and the replay market it started."""
    state = bot_state(folder)
    stopped = False
    if state is not None:
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while bot_state(folder) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if bot_state(folder) is not None:
            logger.warning("Bot pid %d ignored SIGTERM; killing it", state.pid)
            os.kill(state.pid, signal.SIGKILL)
        stopped = True
    (folder / "bot.json").unlink(missing_ok=True)
    market.stop(folder / "market.json")
    return stopped
