"""Running the offline market: foreground serving, a background process tracked by a state file.

The serving process writes {pid, host, port, datadir} to the state file only once its socket is
bound, and removes it on a clean exit, so "state file present and pid alive and /ping answers"
is the single test of "running" used by the CLI, the Makefile and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
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

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.binance_api import create_app
from freqai_seq.market.candles import CandleStore
from freqai_seq.market.clock import HistoricalClock, ReplayClock

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MarketState:
    pid: int
    host: str
    port: int
    datadir: str
    replay_start_ms: int | None = None  # a replay of history as a live market (dry-run)
    replay_since_ms: int | None = None  # wall time the replay began; a restart keeps its clock

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ping(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/v3/ping", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def running_state(state_file: Path) -> MarketState | None:
    """The state of a live, answering market, or None (a stale state file counts as none)."""
    state = read_state(state_file)
    if state and _pid_alive(state.pid) and ping(state.host, state.port):
        return state
    return None


def serve(datadir: Path, host: str, port: int, state_file: Path,
          data_format: str = "feather", replay_start_ms: int | None = None,
          replay_since_ms: int | None = None) -> None:
    """Serve in the foreground until SIGTERM or SIGINT; with `replay_start_ms`, replay the
    history from that time as a live market, as if it had begun at wall time `replay_since_ms`
    (default now: a restarted market given the first start's time continues the same clock)."""
    clock = (HistoricalClock() if replay_start_ms is None
             else ReplayClock(replay_start_ms, replay_since_ms))
    store = CandleStore.from_datadir(datadir, clock, data_format)
    asyncio.run(_serve(store, datadir, host, port, state_file, replay_start_ms,
                       replay_since_ms))


async def _serve(store: CandleStore, datadir: Path, host: str, port: int,
                 state_file: Path, replay_start_ms: int | None,
                 replay_since_ms: int | None) -> None:
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
    _write_state(state_file, MarketState(os.getpid(), host, bound_port, str(datadir),
                                         replay_start_ms, replay_since_ms))
    logger.info("Offline market listening on http://%s:%d (state in %s)", host, bound_port,
                state_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        state = read_state(state_file)
        if state and state.pid == os.getpid():
            state_file.unlink(missing_ok=True)
        await runner.cleanup()
        logger.info("Offline market stopped")


def start(datadir: Path, host: str, port: int, state_file: Path, log_file: Path,
          data_format: str = "feather", replay_start_ms: int | None = None,
          replay_since_ms: int | None = None) -> tuple[MarketState, bool]:
    """Start a background market; returns (state, started). A running one is reused."""
    current = running_state(state_file)
    if current:
        if (Path(current.datadir).resolve() != datadir.resolve()
                or current.replay_start_ms != replay_start_ms
                or current.replay_since_ms != replay_since_ms):
            raise FreqaiSeqError(
                f"An offline market already runs (pid {current.pid}, port {current.port}) for "
                f"{current.datadir} (replay start {current.replay_start_ms}), not {datadir} "
                f"(replay start {replay_start_ms}): stop it first with `freqai-seq market stop`."
            )
        return current, False
    stale = read_state(state_file)
    if stale:
        logger.warning("Removing stale market state %s (pid %d is gone)", state_file, stale.pid)
        state_file.unlink(missing_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "freqai_seq.cli", "market", "serve", "--datadir", str(datadir),
           "--host", host, "--port", str(port), "--state-file", str(state_file),
           "--data-format", data_format]
    if replay_start_ms is not None:
        cmd += ["--replay-start", str(replay_start_ms)]
    if replay_since_ms is not None:
        cmd += ["--replay-since", str(replay_since_ms)]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise FreqaiSeqError("The offline market failed to start: " + " | ".join(tail))
        state = read_state(state_file)
        if state and state.pid == proc.pid and ping(state.host, state.port, timeout=1.0):
            return state, True
        time.sleep(0.1)
    proc.terminate()
    raise FreqaiSeqError(f"The offline market did not answer within {START_TIMEOUT_S:.0f}s; "
                         f"see {log_file}.")


def stop(state_file: Path) -> MarketState | None:
    """Stop the market recorded in the state file; None when none was running."""
    state = read_state(state_file)
    if state is None:
        return None
    if _pid_alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(state.pid) and time.monotonic() < deadline:
            _reap(state.pid)
            time.sleep(0.05)
        if _pid_alive(state.pid):
            logger.warning("Market pid %d ignored SIGTERM; killing it", state.pid)
            os.kill(state.pid, signal.SIGKILL)
    state_file.unlink(missing_ok=True)
    return state


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie that looks alive."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@contextlib.contextmanager
def market_running(datadir: Path, host: str, port: int, state_file: Path,
                   log_file: Path) -> Iterator[MarketState]:
    """A running market for the duration of the block; stopped afterwards only if we started it."""
    state, started = start(datadir, host, port, state_file, log_file)
    if started:
        logger.info("Started the offline market on %s (pid %d)", state.base_url, state.pid)
    else:
        logger.info("Using the offline market already running on %s (pid %d)", state.base_url,
                    state.pid)
    try:
        yield state
    finally:
        if started:
            stop(state_file)
