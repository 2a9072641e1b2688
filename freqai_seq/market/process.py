"""Running the offline market: foreground serving, a background process tracked by a state file.

The serving process writes {pid, its start time, host, port, datadir} to the state file only once
its socket is bound, and removes it on a clean exit, so "state file present and its process still
running (the same process: pid and start time) and /ping answers" is the single test of "running"
used by the CLI, the Makefile and the tests. A state file whose process is gone, or whose pid now
belongs to another process, is stale: removed with a warning and never acted on.

A market that a command starts for itself has an owner (that command's process): it exits by
itself once the owner is gone, so a killed backtest leaves no market behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web

from freqai_seq import processes
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.binance_api import create_app
from freqai_seq.market.candles import CandleStore
from freqai_seq.market.clock import HistoricalClock, ReplayClock

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
OWNER_POLL_S = 0.25  # a market exits within about this long once its owner is gone


@dataclass(frozen=True)
class MarketState:
    pid: int
    host: str
    port: int
    datadir: str
    replay_start_ms: int | None = None  # a replay of history as a live market (dry-run)
    replay_since_ms: int | None = None  # wall time the replay began; a restart keeps its clock
    create_time: float | None = None  # None: written by an older version, so never verifiable
    owner_pid: int | None = None  # the command that started the market for itself, if any
    owner_create_time: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def process(self) -> processes.ProcessRecord | None:
        return processes.recorded(self.pid, self.create_time)

    @property
    def owner(self) -> processes.ProcessRecord | None:
        """None for a market of `freqai-seq market start`, which runs until `market stop`."""
        return processes.recorded(self.owner_pid, self.owner_create_time)


def read_state(state_file: Path) -> MarketState | None:
    try:
        return MarketState(**json.loads(state_file.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _write_state(state_file: Path, state: MarketState) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    tmp.replace(state_file)


def _live(state_file: Path) -> MarketState | None:
    """The recorded market if that very process still runs; a stale state file is removed."""
    state = read_state(state_file)
    if state is None or processes.is_running(state.process):
        return state
    logger.warning("Removing stale market state %s: pid %d is not the market that wrote it (the "
                   "market is gone, or the pid now belongs to another process)", state_file,
                   state.pid)
    state_file.unlink(missing_ok=True)
    return None


def check_exposure(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless asked for: the market has no authentication, so
    anyone who can reach the address can use it."""
    with contextlib.suppress(ValueError):
        if host.lower() == "localhost" or ipaddress.ip_address(host).is_loopback:
            return
    if not allow_remote:
        raise FreqaiSeqError(
            f"Refusing to serve the offline market on {host}: not a loopback address "
            f"(127.0.0.0/8, ::1, localhost), so other machines could reach the market, which "
            f"has no authentication. Pass --allow-remote to `freqai-seq market start` (or "
            f"`serve`) if that is what you want.")
    logger.warning("The offline market on %s can be reached from other machines "
                   "(--allow-remote); it has no authentication", host)


def ping(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/v3/ping", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def running_state(state_file: Path) -> MarketState | None:
    """The state of a live, answering market, or None (a stale state file counts as none)."""
    state = _live(state_file)
    if state and ping(state.host, state.port):
        return state
    return None


def serve(datadir: Path, host: str, port: int, state_file: Path,
          data_format: str = "feather", replay_start_ms: int | None = None,
          replay_since_ms: int | None = None, owner: processes.ProcessRecord | None = None,
          allow_remote: bool = False) -> None:
    """Serve in the foreground until SIGTERM or SIGINT, or until `owner` (when given) is gone;
    with `replay_start_ms`, replay the history from that time as a live market, as if it had
    begun at wall time `replay_since_ms` (default now: a restarted market given the first
    start's time continues the same clock)."""
    check_exposure(host, allow_remote)
    clock = (HistoricalClock() if replay_start_ms is None
             else ReplayClock(replay_start_ms, replay_since_ms))
    store = CandleStore.from_datadir(datadir, clock, data_format)
    asyncio.run(_serve(store, datadir, host, port, state_file, replay_start_ms,
                       replay_since_ms, owner))


async def _watch_owner(owner: processes.ProcessRecord, stop: asyncio.Event) -> None:
    while processes.is_running(owner):
        await asyncio.sleep(OWNER_POLL_S)
    logger.info("The command that started this market (pid %d) is gone; stopping", owner.pid)
    stop.set()


async def _serve(store: CandleStore, datadir: Path, host: str, port: int,
                 state_file: Path, replay_start_ms: int | None,
                 replay_since_ms: int | None, owner: processes.ProcessRecord | None) -> None:
    runner = web.AppRunner(create_app(store), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise FreqaiSeqError(
                f"Port {port} on {host} is already in use. Stop whatever listens there "
                f"(`freqai-seq market stop` if it is an offline market) or pass --port."
            ) from exc
        raise FreqaiSeqError(f"Cannot listen on {host}:{port}: {exc}") from exc
    bound_port = runner.addresses[0][1]  # the real port when 0 was asked for
    me = processes.ProcessRecord.current()
    _write_state(state_file, MarketState(
        me.pid, host, bound_port, str(datadir), replay_start_ms, replay_since_ms,
        me.create_time, owner.pid if owner else None, owner.create_time if owner else None))
    logger.info("Offline market listening on http://%s:%d (state in %s%s)", host, bound_port,
                state_file, f"; runs while pid {owner.pid} does" if owner else "")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_owner(owner, stop)) if owner else None
    try:
        await stop.wait()
    finally:
        if watcher:
            watcher.cancel()
        state = read_state(state_file)
        if state and state.pid == os.getpid():
            state_file.unlink(missing_ok=True)
        await runner.cleanup()
        logger.info("Offline market stopped")


def _serves(state: MarketState, datadir: Path, replay_start_ms: int | None,
            replay_since_ms: int | None) -> bool:
    return (Path(state.datadir).resolve() == datadir.resolve()
            and state.replay_start_ms == replay_start_ms
            and state.replay_since_ms == replay_since_ms)


def start(datadir: Path, host: str, port: int, state_file: Path, log_file: Path,
          data_format: str = "feather", replay_start_ms: int | None = None,
          replay_since_ms: int | None = None, owner: processes.ProcessRecord | None = None,
          allow_remote: bool = False) -> tuple[MarketState, bool]:
    """Start a background market; returns (state, started). A running one is reused.

    Without `owner` the market runs until `stop` (`freqai-seq market start`); with one it also
    exits by itself once that process is gone, so a killed command leaves no market behind.
    """
    check_exposure(host, allow_remote)
    current = _live(state_file)
    if current:
        if not ping(current.host, current.port):
            raise FreqaiSeqError(
                f"The offline market pid {current.pid} recorded in {state_file} runs but does "
                f"not answer on {current.base_url}: stop it with `freqai-seq market stop "
                f"--state-file {state_file}`.")
        if not _serves(current, datadir, replay_start_ms, replay_since_ms):
            raise FreqaiSeqError(
                f"An offline market already runs (pid {current.pid}, port {current.port}) for "
                f"{current.datadir} (replay start {current.replay_start_ms}), not {datadir} "
                f"(replay start {replay_start_ms}): stop it first with `freqai-seq market stop`."
            )
        return current, False
    log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "freqai_seq.cli", "market", "serve",
           "--datadir", str(datadir),
           "--host", host, "--port", str(port), "--state-file", str(state_file),
           "--data-format", data_format]
    if replay_start_ms is not None:
        cmd += ["--replay-start", str(replay_start_ms)]
    if replay_since_ms is not None:
        cmd += ["--replay-since", str(replay_since_ms)]
    if owner is not None:
        cmd += ["--owner-pid", str(owner.pid), "--owner-create-time", repr(owner.create_time)]
    if allow_remote:
        cmd.append("--allow-remote")
    with log_file.open("ab") as log:
        logged_before = log.tell()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise FreqaiSeqError("The offline market failed to start: "
                                     f"{_start_error(log_file, logged_before)} (log: {log_file})")
            state = read_state(state_file)
            if state and state.pid == proc.pid and ping(state.host, state.port, timeout=1.0):
                return state, True
            time.sleep(0.1)
        raise FreqaiSeqError(f"The offline market did not answer within {START_TIMEOUT_S:.0f}s; "
                             f"see {log_file}.")
    except BaseException:  # failed, timed out or interrupted: no half-started market stays
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def _start_error(log_file: Path, offset: int) -> str:
    """What the serving process logged as its error (all its lines: a candle check lists one
    problem per line), else the last lines it wrote."""
    with log_file.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").strip().splitlines()
    first = next((i for i, line in enumerate(lines) if " - ERROR - " in line), None)
    if first is None:
        return " | ".join(lines[-3:])
    return "\n".join([lines[first].split(" - ERROR - ", 1)[1], *lines[first + 1:]])


def stop(state_file: Path) -> MarketState | None:
    """Stop the market recorded in the state file; None when none was running (a stale state
    file is removed, and the process its pid names now is left alone)."""
    state = _live(state_file)
    if state is None:
        return None
    processes.stop(state.process, STOP_TIMEOUT_S)
    state_file.unlink(missing_ok=True)
    return state


@contextlib.contextmanager
def market_running(datadir: Path, host: str, port: int | None, state_file: Path,
                   log_file: Path) -> Iterator[MarketState]:
    """A running market for the duration of the block, for a command such as a backtest.

    A market of `freqai-seq market start` recorded in `state_file` (and serving `datadir`) is
    shared and left running. Otherwise the block gets a market of its own, on `port` (None: any
    free port, so concurrent runs never race for one), owned by this process so it exits if we
    are killed, and recorded in a state file of this run next to `state_file`: another run
    never finds it, shares it, or stops it.
    """
    shared = running_state(state_file)
    if shared and shared.owner is None and _serves(shared, datadir, None, None):
        logger.info("Using the offline market already running on %s (pid %d)", shared.base_url,
                    shared.pid)
        yield shared
        return
    own_file = state_file.with_name(f"run-{os.getpid()}.json")
    state, started = start(datadir, host, 0 if port is None else port, own_file, log_file,
                           owner=processes.ProcessRecord.current())
    logger.info("%s an offline market for this run on %s (pid %d)",
                "Started" if started else "Using", state.base_url, state.pid)
    try:
        yield state
    finally:
        if started:  # else an enclosing block of this process started it and stops it
            stop(own_file)
