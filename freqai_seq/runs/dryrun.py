"""`freqai-seq dryrun`: `freqtrade trade --dry-run` with FreqAI against the replay market.

Everything it writes stays in user_data/dryrun/ (git-ignored): the local config with the REST API
credentials (generated once, never printed in full), the bot's state file, log and database, and
the replay's start, so a restarted bot finds the market's clock where it left it.

The bot's state file records its pid and start time: a bot that died without `dryrun stop` leaves
a stale file, which is cleared (with the replay market its start started) and never acted on, and
the credentials go only to a port on which the recorded bot itself listens.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freqai_seq import defaults, paths, processes
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST, fast_replay
from freqai_seq.market import process as market
from freqai_seq.market.clock import ReplayClock
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.runs.class_names import check_class_names
from freqai_seq.runs.loaders import install_loaders
from freqai_seq.runs.run_config import (
    freqai_identifier,
    load_user_configs,
    replacing_training_params,
)
from freqai_seq.runs.runner import freqtrade_cli, freqtrade_logfile

logger = logging.getLogger(__name__)

API_PORT = defaults.API_PORT
# freqtrade imports torch and loads the strategy, FreqAI and the markets before its API answers.
START_TIMEOUT_S = 300.0
PROGRESS_EVERY_S = 15.0
STOP_TIMEOUT_S = 60.0


class BotFailed(Exception):
    """The bot exited, or never answered, during `dryrun start`: the job failed (exit 1), as
    opposed to a FreqaiSeqError about the input, found before anything starts (exit 2)."""


@dataclass(frozen=True)
class DryRunRequest:
    model: str = defaults.MODEL
    strategy: str = defaults.STRATEGY
    replay_start_ms: int = defaults.REPLAY_START_MS
    pairs: tuple[str, ...] = ()
    configs: tuple[Path, ...] = (paths.CONFIG,)
    training_params: Path | None = None
    datadir: Path = paths.DATA_DIR
    userdir: Path = paths.USER_DATA
    api_port: int = API_PORT
    fast: bool = False  # 30m candles relabelled as 1m: a new candle every minute
    logfile: Path | None = None  # freqtrade's --logfile (its output also goes to bot.log)
    retrain_hours: float = 1.0  # FreqAI's live_retrain_hours (wall-clock hours)

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
        return freqai_identifier("dryrun", self.model, self.session)


@dataclass(frozen=True)
class BotState:
    pid: int
    api_url: str
    market_state_file: str
    log_file: str
    create_time: float | None = None  # None: written by an older version, so never verifiable

    @property
    def process(self) -> processes.ProcessRecord | None:
        return processes.recorded(self.pid, self.create_time)

    @property
    def api_port(self) -> int:
        return urllib.parse.urlsplit(self.api_url).port or 0


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
    # Created 0600 (never readable by others, not even between a write and a chmod), and an
    # older file with wider permissions is narrowed before it is rewritten.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(config, indent=2))
    return path


def run_overlay(request: DryRunRequest, market_state: market.MarketState,
                training_params: dict[str, Any] | None) -> dict[str, Any]:
    """Our part of the bot's config (no secret), after the user's files and before the local
    credentials file; `training_params` replace the config's model_training_parameters."""
    from freqtrade.misc import deep_merge_dicts

    overlay = offline_overlay(market_state.host, market_state.port)
    # FreqAI predicts when a new candle arrives (it refuses process_only_new_candles false), so
    # the first usable prediction comes with the first candle after the first training.
    overlay.update(initial_state="running", dry_run=True)
    if request.fast:
        overlay = deep_merge_dicts(fast_replay.overlay(), overlay)
    freqai = overlay.setdefault("freqai", {})
    freqai.update(identifier=request.identifier, live_retrain_hours=request.retrain_hours)
    if request.pairs:
        overlay["exchange"]["pair_whitelist"] = list(request.pairs)
    if training_params is not None:
        freqai["model_training_parameters"] = training_params
    return overlay


def _replay(request: DryRunRequest, market_datadir: Path) -> tuple[Path, dict[str, Any]]:
    """The replay's file and what identifies the replay in it."""
    return (request.folder / f"{request.session}.json",
            {"replay_start_ms": request.replay_start, "datadir": str(market_datadir.resolve())})


def replay_since(request: DryRunRequest, market_datadir: Path) -> int:
    """Wall time the replay began: the one its first start saved (`save_replay_since`), so a
    restarted bot finds the market's clock where the stopped one left it (as a real exchange's
    does); now for a new replay."""
    path, key = _replay(request, market_datadir)
    try:
        saved = json.loads(path.read_text())
        if {k: saved.get(k) for k in key} == key:
            return int(saved["since_ms"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        pass
    return int(time.time() * 1000)


def save_replay_since(request: DryRunRequest, market_datadir: Path, since: int) -> None:
    """Saved once the replay market runs: a start the market refuses leaves no replay behind."""
    path, key = _replay(request, market_datadir)
    path.write_text(json.dumps({**key, "since_ms": since}))


def _recorded(folder: Path) -> BotState | None:
    try:
        return BotState(**json.loads((folder / "bot.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def bot_state(folder: Path) -> BotState | None:
    """The recorded bot if that very process still runs (not another one that got its pid)."""
    state = _recorded(folder)
    return state if state is not None and processes.is_running(state.process) else None


def clear_stale(folder: Path) -> BotState | None:
    """The state of a bot that is gone without `dryrun stop` (killed, crashed), or whose pid now
    names another process: its file is removed and the replay market its start started is
    stopped (if that market is still verifiably ours). None when there was no such state."""
    state = _recorded(folder)
    if state is None or processes.is_running(state.process):
        return None
    logger.warning("Removing stale %s: the dry-run bot pid %d is gone (or the pid now belongs to "
                   "another process)", folder / "bot.json", state.pid)
    (folder / "bot.json").unlink(missing_ok=True)
    if (stopped := market.stop(Path(state.market_state_file))) is not None:
        logger.info("Stopped the replay market pid %d that the bot's start had started",
                    stopped.pid)
    return state


def empty_userdir(userdir: Path) -> None:
    """No models and no replay clock left in a measuring command's own user-data folder (soak,
    live-cycle); a bot still running there is an error, never stopped here."""
    folder = userdir / "dryrun"
    clear_stale(folder)
    if (running := bot_state(folder)) is not None:
        raise FreqaiSeqError(f"A bot already runs in {userdir} (pid {running.pid}): stop it "
                             f"with `freqai-seq dryrun stop --userdir {userdir}`.")
    for name in ("models", "dryrun"):
        shutil.rmtree(userdir / name, ignore_errors=True)


def _check_api_port(port: int) -> None:
    """Fail before anything starts when the bot could not listen on its REST API port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the bot's server does
        try:
            sock.bind((DEFAULT_HOST, port))
        except OSError as exc:
            raise FreqaiSeqError(
                f"The REST API port {port} on {DEFAULT_HOST} cannot be used ({exc.strerror}): "
                f"something else listens there. Pass --api-port with a free port.") from exc


def start(request: DryRunRequest) -> BotState:
    """Start the replay market and the bot; return once the bot answers on its REST API with
    our credentials. BotFailed (after stopping what this start started) when it exits or does
    not answer within START_TIMEOUT_S."""
    folder = request.folder
    clear_stale(folder)
    if (running := bot_state(folder)) is not None:
        raise FreqaiSeqError(f"A dry-run bot already runs (pid {running.pid}, {running.api_url}): "
                             "`freqai-seq dryrun stop` first.")
    _check_api_port(request.api_port)
    _, user_config = load_user_configs(request.configs)  # a missing or broken file: exit 2
    check_class_names(request.model, request.strategy, request.userdir, user_config, [])
    training_params = (replacing_training_params(user_config, request.training_params)
                       if request.training_params else None)
    ReplayClock(request.replay_start)  # the market's own check (not in the future), up front
    install_loaders(request.userdir)
    folder.mkdir(parents=True, exist_ok=True)
    market_datadir = request.datadir
    if request.fast:
        market_datadir = fast_replay.build(request.datadir, folder / "fast-data",
                                           _replayed_pairs(request, user_config))
    market_file = folder / "market.json"
    since = replay_since(request, market_datadir)
    market_state, market_started = market.start(
        market_datadir, DEFAULT_HOST, 0, market_file, folder / "market.log",
        replay_start_ms=request.replay_start, replay_since_ms=since)
    save_replay_since(request, market_datadir, since)
    overlay = folder / "run.json"
    overlay.write_text(json.dumps(run_overlay(request, market_state, training_params),
                                  indent=2))
    local = local_config(folder, request.api_port)
    log_file = folder / "bot.log"
    cmd = [*freqtrade_cli(["trade", "--dry-run"], [*request.configs, overlay, local],
                          request.strategy, request.model, request.userdir,
                          folder / "data" / request.session),
           "--db-url", f"sqlite:///{(folder / f'trades-{request.session}.sqlite').resolve()}",
           *freqtrade_logfile(request.logfile)]
    with log_file.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "COLUMNS": "4000"})
    state = BotState(proc.pid, f"http://{DEFAULT_HOST}:{request.api_port}", str(market_file),
                     str(log_file), processes.ProcessRecord.of(proc.pid).create_time)
    (folder / "bot.json").write_text(json.dumps(asdict(state)))
    logger.info("Dry-run bot pid %d: REST API %s (user and password in %s), log %s",
                proc.pid, state.api_url, local, log_file)
    try:
        _wait_until_ready(proc, state, folder)
    except BaseException:  # BotFailed, or interrupted: leave nothing half-started behind
        processes.stop(state.process, STOP_TIMEOUT_S)
        (folder / "bot.json").unlink(missing_ok=True)
        if market_started:
            market.stop(market_file)
        raise
    return state


def _wait_until_ready(proc: subprocess.Popen[bytes], state: BotState, folder: Path) -> None:
    began = time.monotonic()
    report_at = began + PROGRESS_EVERY_S
    while True:
        if (code := proc.poll()) is not None:
            lines = Path(state.log_file).read_text(errors="replace").strip().splitlines()
            tail = "\n".join(lines[-10:])
            raise BotFailed(f"The dry-run bot exited with code {code} during start-up. Last lines "
                            f"of its log:\n{tail}\nFull log: {state.log_file}")
        if processes.listens_on(state.process, state.api_port):
            try:
                _authorised_call(state, folder, "/api/v1/show_config", timeout_s=5.0)
                logger.info("The dry-run bot answers on %s after %.0fs", state.api_url,
                            time.monotonic() - began)
                return
            except FreqaiSeqError:
                pass  # listening, not answering yet
        if time.monotonic() - began > START_TIMEOUT_S:
            raise BotFailed(f"The dry-run bot did not answer on {state.api_url} within "
                            f"{START_TIMEOUT_S:.0f}s; stopped it. See its log {state.log_file}.")
        if time.monotonic() >= report_at:
            logger.info("Waiting for the dry-run bot to answer on %s (%.0fs; log %s)",
                        state.api_url, time.monotonic() - began, state.log_file)
            report_at += PROGRESS_EVERY_S
        time.sleep(1.0)


def _replayed_pairs(request: DryRunRequest, config: dict[str, Any]) -> list[str]:
    """The traded pairs and FreqAI's correlated pairs."""
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
    return _authorised_call(state, folder, path, payload, timeout_s)


def _authorised_call(state: BotState, folder: Path, path: str,
                     payload: dict[str, Any] | None = None, timeout_s: float = 10.0) -> Any:
    """The REST call with the credentials, sent only when the process listening on the API port
    is our bot: never to whatever else may have taken the port."""
    if not processes.listens_on(state.process, state.api_port):
        raise FreqaiSeqError(
            f"Refusing to send the REST API credentials to port {state.api_port}: the dry-run "
            f"bot (pid {state.pid}) does not listen there (it is still starting, or another "
            f"process holds the port).")
    try:
        server = json.loads((folder / "dryrun.local.json").read_text())["api_server"]
        user, password = server["username"], server["password"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise FreqaiSeqError(f"Cannot read the REST API credentials in "
                             f"{folder / 'dryrun.local.json'}: {exc}") from exc
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
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


def stop(folder: Path, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the bot (SIGTERM, then SIGKILL) and the replay market it started; False when no
    bot was running. Only processes verifiably ours are signalled."""
    clear_stale(folder)
    state = bot_state(folder)
    if state is not None:
        processes.stop(state.process, timeout_s)
    (folder / "bot.json").unlink(missing_ok=True)
    market.stop(Path(state.market_state_file) if state else folder / "market.json")
    return state is not None
