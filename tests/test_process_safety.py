"""Processes named by state files are stopped only when they are verifiably ours, a dry-run bot is
reported as started only once it answers, and markets never outlive or cross the commands that
started them. Real processes throughout: `freqai-seq market serve` subprocesses, a `sleep` whose
pid lands in a state file, `python -c` servers on ports the bot wants, and one real freqtrade bot
that fails at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from freqai_seq import processes
from freqai_seq.cli.main import build_parser
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import process as market
from freqai_seq.runs import dryrun
from tests.conftest import ROOT, free_port, run_cli

REPLAY_START_MS = 1_565_827_200_000  # 2019-08-15

# A process the user runs for something else; the tests record its pid in our state files.
SERVER = r"""
import http.server, sys
seen = open(sys.argv[1], "a")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.write(f"{self.path} {self.headers.get('Authorization')}\n")
        seen.flush()
        body = b'{"timeframe": "1h", "whitelist": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# A command that runs a market for itself (as a backtest does) until a line arrives on stdin.
RUN = r"""
import json, sys
from dataclasses import asdict
from pathlib import Path
from freqai_seq.market.process import market_running

with market_running(Path(sys.argv[1]), "127.0.0.1", None, Path(sys.argv[2]),
                    Path(sys.argv[3])) as state:
    print(json.dumps(asdict(state)), flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Someone else's HTTP server on a port: (port, file listing each request's credentials)."""
    seen = tmp_path / "requests.txt"
    seen.touch()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(seen)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    yield int(proc.stdout.readline()), seen
    proc.kill()
    proc.wait()


def _reused(proc: subprocess.Popen[bytes]) -> processes.ProcessRecord:
    """The record a state file would hold if its process had died and `proc` got its pid."""
    return processes.ProcessRecord(proc.pid, processes.ProcessRecord.of(proc.pid).create_time
                                   - 3600)


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _write_bot(folder: Path, pid: int, create_time: float | None, api_port: int = 1) -> Path:
    """bot.json as `dryrun start` writes it; without a start time as older versions wrote it."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"pid": pid, "api_url": f"http://127.0.0.1:{api_port}",
             "market_state_file": str(folder / "market.json"),
             "log_file": str(folder / "bot.log")}
    if create_time is not None:
        state["create_time"] = create_time
    (folder / "bot.json").write_text(json.dumps(state))
    return folder / "bot.json"


def _spawn_run(datadir: Path, state_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUN, str(datadir), str(state_file),
                             str(state_file.with_name("market.log"))], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _its_market(run: subprocess.Popen[str]) -> market.MarketState:
    """The market the run's block got, once it has it."""
    assert run.stdout is not None
    line = run.stdout.readline()
    assert line, run.communicate()[1][-3000:]
    return market.MarketState(**json.loads(line))


# ------------------------------------------------------------------ 1. process identity
@pytest.mark.parametrize("recorded", ["without start time", "pid reused"])
def test_market_stop_leaves_a_stranger_named_by_a_stale_state_file_alone(
        stranger: subprocess.Popen[bytes], tmp_path: Path, recorded: str) -> None:
    state_file = tmp_path / "market.json"
    state = {"pid": stranger.pid, "host": "127.0.0.1", "port": 1, "datadir": str(tmp_path)}
    if recorded == "pid reused":
        state["create_time"] = _reused(stranger).create_time
    state_file.write_text(json.dumps(state))
    stopped = run_cli("market", "stop", "--state-file", str(state_file))
    assert stopped.returncode == 0 and "No offline market was running" in stopped.stdout
    assert f"stale market state {state_file}: pid {stranger.pid}" in stopped.stderr
    assert not state_file.exists()
    assert stranger.poll() is None  # still running: never signalled


@pytest.mark.parametrize("recorded", ["without start time", "pid reused"])
def test_dryrun_stop_leaves_a_stranger_named_by_a_stale_bot_file_alone(
        stranger: subprocess.Popen[bytes], tmp_path: Path, recorded: str) -> None:
    userdir = tmp_path / "user_data"
    bot_file = _write_bot(userdir / "dryrun", stranger.pid,
                          _reused(stranger).create_time if recorded == "pid reused" else None)
    stopped = run_cli("dryrun", "stop", "--userdir", str(userdir))
    assert stopped.returncode == 0 and "No dry-run bot was running" in stopped.stdout
    assert f"the dry-run bot pid {stranger.pid} is gone" in stopped.stderr
    assert not bot_file.exists() and stranger.poll() is None


# ------------------------------------------------------- 2 and 4. a bot that died is reported
@pytest.mark.parametrize("death", ["killed -9", "pid now a stranger's"])
def test_dryrun_status_of_a_dead_bot_says_so_and_stops_its_market(
        stranger: subprocess.Popen[bytes], datadir: Path, tmp_path: Path, death: str) -> None:
    userdir = tmp_path / "user_data"
    folder = userdir / "dryrun"
    replay, started = market.start(datadir, "127.0.0.1", 0, folder / "market.json",
                                   folder / "market.log", replay_start_ms=REPLAY_START_MS)
    assert started
    bot = subprocess.Popen(["sleep", "120"])  # stands in for the bot: recorded, then killed
    try:
        if death == "killed -9":
            _write_bot(folder, bot.pid, processes.ProcessRecord.of(bot.pid).create_time)
        else:  # a bot.json from before start times were recorded; its pid now runs a stranger
            _write_bot(folder, stranger.pid, None)
        bot.kill()  # SIGKILL; left unreaped: a zombie does not count as running either
        status = run_cli("dryrun", "status", "--userdir", str(userdir))
    finally:
        bot.kill()
        bot.wait()
        market.stop(folder / "market.json")
    assert status.returncode == 1, status.stderr[-3000:]
    assert "not running" in status.stdout and "died without `freqai-seq dryrun stop`" in \
        status.stdout and str(folder / "bot.log") in status.stdout
    assert "Traceback" not in status.stderr
    assert f"Stopped the replay market pid {replay.pid}" in status.stderr
    assert not processes.is_running(replay.process)
    assert not (folder / "bot.json").exists() and not (folder / "market.json").exists()
    assert stranger.poll() is None


# ------------------------------------------------ 3. `dryrun start` succeeds only when it works
def test_dryrun_start_clears_a_stale_bot_and_fails_when_the_bot_dies_at_start_up(
        stranger: subprocess.Popen[bytes], datadir: Path, tmp_path: Path) -> None:
    """A real freqtrade bot that exits at start-up (a strategy file that fails to import; a
    misspelt name is refused before anything starts): exit 1 with its exit code, last log lines
    and log path, and the market this start started stopped."""
    userdir = tmp_path / "user_data"
    folder = userdir / "dryrun"
    _write_bot(folder, stranger.pid, None)
    (userdir / "strategies").mkdir(parents=True)
    (userdir / "strategies" / "BrokenStrategy.py").write_text(
        'raise ImportError("broken on purpose")\n\n\nclass BrokenStrategy(object):\n    pass\n')
    try:
        result = run_cli("dryrun", "start", "--strategy", "BrokenStrategy", "--pairs", "BTC/USD",
                         "--userdir", str(userdir), "--datadir", str(datadir), "--api-port",
                         str(free_port()))
    finally:
        dryrun.stop(folder)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert "Dry-run bot started" not in result.stdout
    assert "exited with code 2 during start-up" in result.stderr
    assert "Impossible to load Strategy 'BrokenStrategy'" in result.stderr
    assert f"Full log: {folder / 'bot.log'}" in result.stderr
    assert "Traceback" not in result.stderr
    assert stranger.poll() is None
    assert not (folder / "bot.json").exists() and not (folder / "market.json").exists()
    market_log = (folder / "market.log").read_text()
    assert market_log.count("Offline market listening") == 1
    assert market_log.count("Offline market stopped") == 1


def test_dryrun_start_refuses_a_busy_api_port_before_starting_anything(
        server: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = server
    userdir = tmp_path / "user_data"
    try:
        result = run_cli("dryrun", "start", "--userdir", str(userdir), "--api-port", str(port))
    finally:
        dryrun.stop(userdir / "dryrun")
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert f"The REST API port {port} on 127.0.0.1 cannot be used" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (userdir / "dryrun" / "market.log").exists()  # no market, no bot
    assert not (userdir / "dryrun" / "bot.log").exists()


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_an_api_port_outside_1_to_65535_is_refused_by_argparse(
        port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["dryrun", "start", "--api-port", port])
    assert exited.value.code == 2
    assert "not a TCP port (1..65535)" in capsys.readouterr().err


def test_the_credentials_go_only_to_a_port_the_recorded_bot_listens_on(
        server: tuple[int, Path], tmp_path: Path) -> None:
    """The recorded bot runs, but another process listens on its API port: nothing is sent."""
    port, seen = server
    userdir = tmp_path / "user_data"
    folder = userdir / "dryrun"
    bot = subprocess.Popen(["sleep", "120"])
    try:
        _write_bot(folder, bot.pid, processes.ProcessRecord.of(bot.pid).create_time, port)
        dryrun.local_config(folder, port)
        status = run_cli("dryrun", "status", "--userdir", str(userdir))
        with pytest.raises(FreqaiSeqError, match=f"Refusing to send .* to port {port}"):
            dryrun.api_call(folder, "/api/v1/show_config")
    finally:
        bot.kill()
        bot.wait()
    assert status.returncode == 2, status.stdout + status.stderr[-3000:]
    assert f"Refusing to send the REST API credentials to port {port}" in status.stderr
    assert f"the dry-run bot (pid {bot.pid}) does not listen there" in status.stderr
    assert "Basic" not in seen.read_text()


# ---------------------------------------------------------- 5. markets do not outlive owners
def test_a_market_exits_when_the_command_that_started_it_is_killed(datadir: Path,
                                                                   tmp_path: Path) -> None:
    state_file = tmp_path / "market.json"
    run = _spawn_run(datadir, state_file)
    state = _its_market(run)
    own_file = tmp_path / f"run-{run.pid}.json"
    assert state.owner_pid == run.pid and own_file.exists() and not state_file.exists()
    run.kill()  # SIGKILL: no context manager runs
    run.wait()
    assert _wait(lambda: not processes.is_running(state.process), 5), "the market outlived it"
    assert _wait(lambda: not own_file.exists(), 2)  # a clean exit: its state file removed
    assert "is gone; stopping" in (tmp_path / "market.log").read_text()


def test_a_reused_owner_pid_does_not_keep_a_market_alive(
        stranger: subprocess.Popen[bytes], datadir: Path, tmp_path: Path) -> None:
    state_file = tmp_path / "market.json"
    serve = subprocess.run(
        [sys.executable, "-m", "freqai_seq.cli", "market", "serve",
         "--datadir", str(datadir),
         "--port", "0", "--state-file", str(state_file), "--owner-pid", str(stranger.pid),
         "--owner-create-time", repr(_reused(stranger).create_time)],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert serve.returncode == 0, serve.stderr[-3000:]
    assert f"(pid {stranger.pid}) is gone; stopping" in serve.stderr
    assert not state_file.exists() and stranger.poll() is None


# ------------------------------------------------ 6. concurrent runs and the shared market
def test_concurrent_runs_get_their_own_markets_and_never_stop_each_other(
        datadir: Path, tmp_path: Path) -> None:
    state_file = tmp_path / "market.json"
    run_a, run_b = _spawn_run(datadir, state_file), _spawn_run(datadir, state_file)
    try:
        a, b = _its_market(run_a), _its_market(run_b)
        assert a.pid != b.pid and a.port != b.port
        assert {a.owner_pid, b.owner_pid} == {run_a.pid, run_b.pid}
        assert not state_file.exists()  # the shared state file is `market start`'s only
        run_a.communicate("\n", timeout=30)  # the first run ends its block
        assert run_a.returncode == 0
        assert not processes.is_running(a.process)
        assert market.ping(b.host, b.port) and processes.is_running(b.process)
    finally:
        for run in (run_a, run_b):
            if run.poll() is None:
                run.communicate("\n", timeout=30)
    assert not processes.is_running(b.process)
    assert not list(tmp_path.glob("run-*.json"))


def test_a_market_of_market_start_is_shared_and_left_running(datadir: Path,
                                                             tmp_path: Path) -> None:
    state_file = tmp_path / "market.json"
    shared, _ = market.start(datadir, "127.0.0.1", 0, state_file, tmp_path / "market.log")
    try:
        with market.market_running(datadir, "127.0.0.1", None, state_file,
                                   tmp_path / "market.log") as used:
            assert used == shared
        assert market.running_state(state_file) == shared
    finally:
        market.stop(state_file)


# ------------------------------------------------------------ 7. no silent remote exposure
def test_a_non_loopback_host_needs_allow_remote(datadir: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    state_file = tmp_path / "market.json"
    try:
        refused = run_cli("market", "start", "--host", "0.0.0.0", "--port", "0",
                          "--state-file", str(state_file), "--market-log", str(tmp_path / "m.log"))
    finally:
        market.stop(state_file)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Refusing to serve the offline market on 0.0.0.0: not a loopback address" in \
        refused.stderr and "--allow-remote" in refused.stderr
    assert not state_file.exists()
    for host in ("127.0.0.1", "127.3.2.1", "::1", "localhost", "LocalHost"):
        market.check_exposure(host, allow_remote=False)
    for host in ("192.168.1.10", "::", "example.com"):
        with pytest.raises(FreqaiSeqError, match="--allow-remote"):
            market.check_exposure(host, allow_remote=False)
    state, _ = market.start(datadir, "0.0.0.0", 0, state_file, tmp_path / "market.log",
                            allow_remote=True)
    try:
        assert market.ping("127.0.0.1", state.port)
    finally:
        market.stop(state_file)
    assert "can be reached from other machines" in caplog.text
    assert "can be reached from other machines" in (tmp_path / "market.log").read_text()


def test_child_started_with_die_with_parent_dies_with_a_killed_parent() -> None:
    """A quiet child (no output, so no broken pipe to end it) goes with its parent's kill -9."""
    import psutil

    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "from freqai_seq.processes import die_with_parent\n"
         "child = subprocess.Popen(['sleep', '120'], preexec_fn=die_with_parent)\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(120)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    assert not psutil.wait_procs([child], timeout=5)[1], "the child outlived its killed parent"


def test_a_run_removes_the_files_of_killed_runs_and_keeps_a_running_ones(
        datadir: Path, tmp_path: Path) -> None:
    """kill -9 leaves a run's overlay and pending record in user_data/runs/; the next run
    removes them once their pid is gone or belongs to a process started after they were
    written, even when it is refused itself."""
    import os

    import psutil

    from freqai_seq.cli.main import main

    runs = tmp_path / "user_data" / "runs"
    runs.mkdir(parents=True)
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    written = time.time()  # while it ran: a pid reused later belongs to a newer process
    killed.wait()
    left = [runs / f".lstm.json.pending-{killed.pid}", runs / f".lstm.overlay-{killed.pid}.json"]
    running = [runs / f".gru.json.pending-{os.getpid()}", runs / f".gru.overlay-{os.getpid()}.json"]
    reused = runs / f".mlp.overlay-{os.getpid()}.json"  # our pid, written before we started
    for path in [*left, *running, reused]:
        path.write_text("{}")
    for path in left:
        os.utime(path, (written, written))
    before_us = psutil.Process().create_time() - 3600
    os.utime(reused, (before_us, before_us))
    assert main(["backtest", "--timerange", "20190801-20190808", "-p", "BTC/USD",
                 "--identifier", "next", "--userdir", str(tmp_path / "user_data"),
                 "--state-file", str(tmp_path / "market.json"), "--", "--no-such-flag"]) == 2
    assert sorted(p.name for p in runs.iterdir()) == sorted(p.name for p in running)


def test_a_replay_start_in_the_future_is_refused_before_anything_is_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from freqai_seq.cli.main import main

    userdir = tmp_path / "user_data"
    assert main(["dryrun", "start", "--replay-start", "2030-01-01", "--userdir", str(userdir),
                 "--api-port", str(free_port())]) == 2
    assert "The replay start lies in the future" in caplog.text
    assert not userdir.exists()  # no replay file, no market, no bot


def test_a_replay_keeps_the_start_time_its_first_start_saved(tmp_path: Path) -> None:
    """A restarted bot finds the market's clock where it left it; a new replay starts now."""
    request = dryrun.DryRunRequest(userdir=tmp_path)
    now = dryrun.replay_since(request, tmp_path)
    assert abs(now - time.time() * 1000) < 60_000 and not tmp_path.joinpath("dryrun").exists()
    request.folder.mkdir()
    dryrun.save_replay_since(request, tmp_path, now - 3_600_000)
    assert dryrun.replay_since(request, tmp_path) == now - 3_600_000
    other = dryrun.DryRunRequest(userdir=tmp_path, replay_start_ms=REPLAY_START_MS)
    assert abs(dryrun.replay_since(other, tmp_path) - time.time() * 1000) < 60_000
