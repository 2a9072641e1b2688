"""`freqai-seq dryrun`: `freqtrade trade --dry-run` with FreqAI against the replay market.

Everything it writes stays in user_data/dryrun/ (git-ignored): the local config with the REST API
credentials (generated once, never printed in full), the bot's state file, log and database, and
the replay's start, so a restarted bot finds the market's clock where it left it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freqai_seq import paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST, fast_replay
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
    fast: bool = False  # 30m candles relabelled as 1m: a new candle every minute

    @property
    def folder(self) -> Path:
        return self.userdir / "dryrun"

    @property
    def replay_start(self) -> int:
        return int(fast_replay.REPLAY_START.timestamp() * 1000) if self.fast \
            else self.replay_start_ms

    @property
    def session(self) -> str:
        """One replay: its models, downloaded candles, trades and clock are kept apart from
        another replay's, so a model never meets candles from before its own training data."""
        if self.fast:
            return "fast"
        return "replay-" + time.strftime("%Y%m%d%H%M", time.gmtime(self.replay_start / 1000))

    @property
    def identifier(self) -> str:
        return f"dryrun-{self.model.lower()}-{self.session}"


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
    from freqtrade.misc import deep_merge_dicts

    overlay = offline_overlay(market_state.host, market_state.port)
    # FreqAI predicts when a new candle arrives (it refuses process_only_new_candles false), so
    # the first usable prediction comes with the first candle after the first training.
    overlay.update(initial_state="running", dry_run=True)
    if request.fast:
        overlay = deep_merge_dicts(fast_replay.overlay(), overlay)
    freqai = overlay.setdefault("freqai", {})
    freqai.update(identifier=request.identifier, live_retrain_hours=1)
    if request.pairs:
        overlay["exchange"]["pair_whitelist"] = list(request.pairs)
    if request.training_params:
        freqai["model_training_parameters"] = json.loads(request.training_params.read_text())
    return overlay


def replay_since(request: DryRunRequest, market_datadir: Path) -> int:
    """Wall time the replay began: kept across restarts of the same replay, so the market's
    clock continues where the stopped bot left it (as a real exchange's does)."""
    path = request.folder / f"{request.session}.json"
    key = {"replay_start_ms": request.replay_start, "datadir": str(market_datadir.resolve())}
    try:
        saved = json.loads(path.read_text())
        if {k: saved.get(k) for k in key} == key:
            return int(saved["since_ms"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        pass
    since = int(time.time() * 1000)
    path.write_text(json.dumps({**key, "since_ms": since}))
    return since


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
    folder.mkdir(parents=True, exist_ok=True)
    market_datadir = request.datadir
    if request.fast:
        market_datadir = fast_replay.build(request.datadir, folder / "fast-data",
                                           _replayed_pairs(request))
    market_file = folder / "market.json"
    market_state, _ = market.start(market_datadir, DEFAULT_HOST, 0, market_file,
                                   folder / "market.log", replay_start_ms=request.replay_start,
                                   replay_since_ms=replay_since(request, market_datadir))
    overlay = folder / "run.json"
    overlay.write_text(json.dumps(run_overlay(request, market_state), indent=2))
    local = local_config(folder, request.api_port)
    log_file = folder / "bot.log"
    cmd = [sys.executable, "-m", "freqtrade", "trade", "--dry-run",
           *[a for c in request.configs for a in ("-c", str(c))], "-c", str(overlay),
           "-c", str(local), "--strategy", request.strategy, "--freqaimodel", request.model,
           "--db-url", f"sqlite:///{(folder / f'trades-{request.session}.sqlite').resolve()}",
           "--userdir", str(request.userdir), "--datadir", str(folder / "data" / request.session)]
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


def _replayed_pairs(request: DryRunRequest) -> list[str]:
    """The traded pairs and FreqAI's correlated pairs."""
    from freqtrade.configuration.load_config import load_from_files

    config = load_from_files([str(c) for c in request.configs])
    traded = list(request.pairs) or config["exchange"]["pair_whitelist"]
    corr = config.get("freqai", {}).get("feature_parameters", {}).get("include_corr_pairlist", [])
    return sorted({*traded, *corr})


@dataclass(frozen=True)
class Prediction:
    """The newest analysed candle of a pair, as the bot's REST API shows it."""

    pair: str
    date: str
    do_predict: int | None
    values: dict[str, float | None]  # FreqAI's `&` outputs; None where the bot has none

    def describe(self) -> str:
        shown = ", ".join(f"{k} {v:+.5f}" if v is not None else f"{k} -"
                          for k, v in self.values.items())
        flag = "-" if self.do_predict is None else int(self.do_predict)  # JSON gives 1.0
        return f"{self.pair:9} {self.date}  do_predict {flag}  {shown}"


def api_call(folder: Path, path: str, payload: dict[str, Any] | None = None,
             timeout_s: float = 10.0) -> Any:
    """GET `path` (POST `payload` as JSON when given) on the running bot's REST API with the
    local credentials."""
    state = bot_state(folder)
    if state is None:
        raise FreqaiSeqError("No dry-run bot is running.")
    server = json.loads((folder / "dryrun.local.json").read_text())["api_server"]
    token = base64.b64encode(f"{server['username']}:{server['password']}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(state.api_url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise FreqaiSeqError(f"The bot's REST API {state.api_url} did not answer {path}: "
                             f"{exc}") from exc


def latest_predictions(folder: Path) -> list[Prediction]:
    timeframe = api_call(folder, "/api/v1/show_config")["timeframe"]
    out = []
    for pair in api_call(folder, "/api/v1/whitelist")["whitelist"]:
        query = urllib.parse.urlencode({"pair": pair, "timeframe": timeframe, "limit": 1})
        candles = api_call(folder, f"/api/v1/pair_candles?{query}")
        if not candles["data"]:
            continue
        row = dict(zip(candles["columns"], candles["data"][-1], strict=True))
        values = {k: v for k, v in row.items() if k.startswith("&")
                  and not k.endswith(("_mean", "_std"))}
        out.append(Prediction(pair, str(row["date"]), row.get("do_predict"), values))
    return out


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
