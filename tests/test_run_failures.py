"""A run that fails never looks like success, and its inputs never leak a secret: input the
wrapper checks exits 2 before freqtrade or a market starts, anything freqtrade rejects exits 1
(freqtrade itself exits 0 on a configuration error), the run's record holds no credential and
replaces an earlier run's record only once the new run has started."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from freqai_seq.runs.run_config import REDACTED, RunSpec, redacted, run_overlay
from freqai_seq.runs.runner import _run_and_count_failed_trainings
from tests.backtest_runs import lstm_run
from tests.conftest import AS_A_USER, FIXTURE_SECRETS, ROOT, BacktestRun, CommandRun, run_cli


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


BAD_INPUTS = {
    "timerange-syntax": ([], ["--timerange", "foo"], "Incorrect syntax for timerange"),
    "timerange-reversed": ([], ["--timerange", "20190815-20190801"], "Start date is after stop"),
    "schema": ([{"max_open_trades": "five"}], [], "max_open_trades: 'five' is not of type"),
    "not-json": (["{nope"], [], "is not valid JSON"),
    "label-period": ([{"freqai": {"feature_parameters": {"label_period_candles": -5}}}], [],
                     "label_period_candles in the config must be a whole number"),
    "unknown-pair": ([{"exchange": {"pair_whitelist": ["DOGE/USD"]}}], [],
                     "No candles in"),
}


# One case as a user meets it (its own interpreter, the lines on its stderr), the others in
# this process: nothing starts before the refusal either way.
AS_A_SUBPROCESS = "not-json"


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_input_checked_before_freqtrade_exits_2(
        case: str, datadir: Path, tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    overlays, args, message = BAD_INPUTS[case]
    configs = [a for i, o in enumerate(overlays)
               for a in ("-c", str(_write(tmp_path / f"overlay{i}.json", o)))]
    userdir = tmp_path / "user_data"
    command = ("backtest", "-c", "config.json", *configs, *args, "--identifier", "bad",
               "--userdir", str(userdir), "--state-file", str(tmp_path / "market.json"))
    result = (run_cli(*command, timeout=120) if case == AS_A_SUBPROCESS
              else cli_in_process(*command))
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if " - ERROR - " in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "Running:" not in result.stderr  # freqtrade never started
    assert not (tmp_path / "market.json").exists()
    assert not list(userdir.rglob("*.json"))


def test_freqtrade_configuration_error_is_a_failure(tmp_path: Path) -> None:
    """freqtrade's main() logs a ConfigurationError and exits 0: the runner's verdict is 1."""
    five = _write(tmp_path / "five.json", {"max_open_trades": "five"})
    (tmp_path / "user_data").mkdir()
    cmd = [sys.executable, "-m", "freqtrade", "backtesting", "-c", str(ROOT / "config.json"),
           "-c", str(five), "--strategy", "FreqaiSeqStrategy", "--freqaimodel",
           "PyTorchLSTMRegressor", "--timerange", "20190801-20190815",
           "--userdir", str(tmp_path / "user_data")]
    code, failed, tail = _run_and_count_failed_trainings(cmd, "backtesting", None)
    assert "Configuration error" in tail
    assert (code, failed) == (1, 0)


def test_redacted_removes_every_credential() -> None:
    config = {
        "exchange": {"name": "binance", "key": "K1", "secret": "S1", "password": "P1",
                     "ccxt_config": {"apiKey": "A1", "headers": {"X-Token": "T1"}}},
        "api_server": {"username": "bot", "password": "P2", "jwt_secret_key": "J1",
                       "ws_token": ["W1"]},
        "telegram": {"enabled": False, "token": "T2", "chat_id": "C1"},
        "db_url": "postgresql+psycopg://bot:P3@127.0.0.1:5432/trades",
        "freqai": {"identifier": "run", "model_training_parameters": {"window": 24}},
    }
    text = json.dumps(redacted(config))
    for secret in ("K1", "S1", "P1", "A1", "T1", "P2", "J1", "W1", "T2", "P3"):
        assert f'"{secret}"' not in text and f":{secret}@" not in text, secret
    kept = json.loads(text)
    assert kept["exchange"]["key"] == REDACTED
    assert kept["db_url"] == f"postgresql+psycopg://bot:{REDACTED}@127.0.0.1:5432/trades"
    assert kept["api_server"]["username"] == "bot"
    assert kept["freqai"] == config["freqai"]


def test_training_params_replace_the_configs_keys(tmp_path: Path) -> None:
    """freqtrade merges config dicts key by key; the overlay nulls the keys the file omits."""
    params = _write(tmp_path / "params.json", {"n_estimators": 5})
    merged = {"freqai": {"model_training_parameters": {"window": 24, "n_estimators": 300}}}
    overlay = run_overlay(merged, RunSpec("FreqaiSeqStrategy", "LightGBMRegressor",
                                          "20190801-20190815", "run", params, ("BTC/USD",)))
    assert overlay["freqai"]["model_training_parameters"] == {"window": None, "n_estimators": 5}
    assert overlay["exchange"] == {"pair_whitelist": ["BTC/USD"]}


@pytest.mark.integration
def test_backtest_writes_no_secret_and_a_rejected_rerun_keeps_the_record(
        backtest: Callable[..., BacktestRun]) -> None:
    run = lstm_run(backtest)
    assert run.result.returncode == 0, run.result.stdout[-3000:] + run.result.stderr[-3000:]
    for path in run.userdir.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".log", ".jsonl", ".txt", ".pkl", ""}:
            content = path.read_bytes()
            for secret in FIXTURE_SECRETS:
                assert secret.encode() not in content, f"{secret} copied into {path}"
    # FreqAI copies the first config file into a models folder it creates: it never does here
    assert not (run.userdir / "models" / run.identifier / "config.json").exists()
    record_path = run.userdir / "runs" / f"{run.identifier}.json"
    record = json.loads(record_path.read_text())
    assert record["exchange"]["secret"] == REDACTED
    assert record["api_server"]["password"] == REDACTED
    before = record_path.read_bytes()

    # freqtrade itself rejects this rerun (a strategy file that fails to import) after our
    # checks passed: the run's own settings, so the run fingerprint lets it through.
    logfile = run.userdir / "logs" / "rejected.log"
    broken = run.userdir / "strategies" / "BrokenStrategy.py"
    broken.write_text('raise ImportError("broken on purpose")\n\n\n'
                      "class BrokenStrategy(object):\n    pass\n")
    base = run.userdir.parent
    try:
        rerun = run_cli("backtest", "-c", "config.json", "-c", str(base / "test-overlay.json"),
                        "--model", "PyTorchLSTMRegressor", "--training-params",
                        str(base / "params.json"), "--strategy", "BrokenStrategy",
                        "--logfile", str(logfile), "--identifier", run.identifier,
                        "--userdir", str(run.userdir),
                        "--datadir", str(ROOT / "user_data" / "data" / "binance"),
                        "--timerange", "20190801-20190815", timeout=300, env=AS_A_USER)
    finally:
        broken.unlink()  # the other tests of this run load strategies from that folder
    assert rerun.returncode == 1, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "freqtrade backtesting failed with exit code" in rerun.stderr
    assert "BrokenStrategy" in logfile.read_text()  # freqtrade's --logfile, as freqtrade's
    assert record_path.read_bytes() == before
    assert not list((run.userdir / "runs").glob(".*"))  # no pending record or overlay left


def test_dryrun_credentials_file_is_private(tmp_path: Path) -> None:
    """The API credentials file is created 0600, and an older, wider one is narrowed."""
    from freqai_seq.runs.dryrun import local_config

    path = local_config(tmp_path, 18781)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    password = json.loads(path.read_text())["api_server"]["password"]
    assert local_config(tmp_path, 18782).stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["api_server"]["password"] == password


# ------------------------------------------------------------------ interrupted runs
@dataclass(frozen=True)
class StartedRun:
    """A `freqai-seq backtest` whose freqtrade and own market run, for a test to interrupt."""
    wrapper: subprocess.Popen[bytes]
    children: list[psutil.Process]
    folder: Path  # holds the market state files

    @property
    def own_state(self) -> Path:  # the state file of the market the run started for itself
        return self.folder / f"run-{self.wrapper.pid}.json"


def _start_backtest(folder: Path, datadir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "freqai_seq.cli", "backtest", "--identifier", folder.name,
         "--timerange", "20190801-20190815", "--userdir", str(folder / "user_data"),
         "--datadir", str(datadir), "--state-file", str(folder / "market.json")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _running(wrapper: subprocess.Popen[bytes], folder: Path) -> StartedRun:
    """Waits until freqtrade and the run's market run under the wrapper."""
    children: list[psutil.Process] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and wrapper.poll() is None:
        children = psutil.Process(wrapper.pid).children(recursive=True)
        names = [" ".join(c.cmdline()) for c in children if c.is_running()]
        if (any("freqtrade" in n for n in names) and any("market serve" in n for n in names)
                and (folder / f"run-{wrapper.pid}.json").exists()):
            break
        time.sleep(0.2)
    names = [" ".join(c.cmdline()) for c in children]
    assert any("freqtrade" in n for n in names) and any("market serve" in n for n in names), names
    return StartedRun(wrapper, children, folder)


def _processes_mentioning(folder: Path) -> list[list[str]]:
    """Every process whose command line names the folder (freqtrade's, the market's)."""
    return [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if any(str(folder) in part for part in p.info["cmdline"] or [])]


@pytest.fixture(scope="module")
def started(datadir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, StartedRun]]:
    """Two backtests started at once, one per interruption test: their start-up (an
    interpreter, a market, freqtrade) is waited for once."""
    folders = {name: tmp_path_factory.mktemp(name) for name in ("sigterm", "killed")}
    wrappers = {name: _start_backtest(folder, datadir) for name, folder in folders.items()}
    try:
        yield {name: _running(wrappers[name], folder) for name, folder in folders.items()}
    finally:
        for wrapper in wrappers.values():  # a test that failed before its signal
            if wrapper.poll() is None:
                wrapper.kill()
            wrapper.wait()


@pytest.mark.integration
def test_sigterm_stops_freqtrade_and_the_market_it_started(
        started: dict[str, StartedRun]) -> None:
    """A cancelled job (CI, kill) must not leave a market or a freqtrade process behind."""
    run = started["sigterm"]
    market_pid = json.loads(run.own_state.read_text())["pid"]
    run.wrapper.send_signal(signal.SIGTERM)
    assert run.wrapper.wait(timeout=60) != 0
    # a loaded machine shuts the market down slowly
    _, alive = psutil.wait_procs(run.children, timeout=20)
    assert not alive, [" ".join(p.cmdline()) for p in alive]  # freqtrade and the market
    assert not psutil.pid_exists(market_pid) and not _processes_mentioning(run.folder)
    assert not run.own_state.exists() and not (run.folder / "market.json").exists()


@pytest.mark.integration
def test_kill_9_of_a_backtest_leaves_nothing_running(started: dict[str, StartedRun]) -> None:
    """freqtrade dies with the wrapper (parent-death signal) and the market the run started
    for itself exits once its owner is gone, removing its state file."""
    run = started["killed"]
    run.wrapper.kill()
    run.wrapper.wait()
    _, alive = psutil.wait_procs(run.children, timeout=20)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    assert not _processes_mentioning(run.folder)
    assert not list(run.folder.glob("run-*.json"))


@pytest.mark.parametrize("case", ["not-json-config", "missing-training-params"])
def test_dryrun_start_checks_its_files_before_starting_anything(
        case: str, tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    args = (["-c", "config.json", "-c", str(_write(tmp_path / "bad.json", "{nope"))]
            if case == "not-json-config" else ["--training-params", str(tmp_path / "none.json")])
    userdir = tmp_path / "user_data"
    result = cli_in_process("dryrun", "start", "--userdir", str(userdir), "--api-port", "18791",
                            *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert ("is not valid JSON" if case == "not-json-config"
            else "Cannot read --training-params") in result.stderr
    assert not userdir.exists()  # no market, no bot, no file


def test_an_option_freqtrade_does_not_know_exits_2_and_keeps_the_record(
        datadir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """freqtrade prints an argument error and exits 0: the wrapper asks freqtrade's own parser
    first, so neither a market nor freqtrade starts and no record is replaced or created."""
    from freqai_seq.cli.main import main

    runs = tmp_path / "user_data" / "runs"
    runs.mkdir(parents=True)
    good = _write(runs / "good.json", {"the": "good run"})
    for identifier in ("good", "never-ran"):
        assert main(["backtest", "--timerange", "20190801-20190808", "-p", "BTC/USD",
                     "--identifier", identifier, "--userdir", str(tmp_path / "user_data"),
                     "--state-file", str(tmp_path / "market.json"), "--",
                     "--no-such-flag"]) == 2
    assert "unrecognized arguments: --no-such-flag" in caplog.text
    assert json.loads(good.read_text()) == {"the": "good run"}
    assert [p.name for p in runs.iterdir()] == ["good.json"]
    assert not (tmp_path / "market.json").exists()


def test_freqtrade_argument_error_is_a_failure(tmp_path: Path) -> None:
    """The runner's own reading of freqtrade's output: an argument error, then exit 0, is 1."""
    cmd = [sys.executable, "-m", "freqtrade", "backtesting", "-c", str(ROOT / "config.json"),
           "--userdir", str(tmp_path), "--no-such-flag"]
    code, failed, tail = _run_and_count_failed_trainings(cmd, "backtesting", None)
    assert "unrecognized arguments" in tail
    assert (code, failed) == (1, 0)


@pytest.mark.parametrize("where", ["a-file", "proc"])
def test_an_unwritable_userdir_is_one_line_and_exit_2(
        where: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """(a read-only file system fails the same way: OSError, EROFS)"""
    from freqai_seq.cli.main import main

    userdir = (_write(tmp_path / "a-file", "not a folder") if where == "a-file"
               else Path("/proc/freqai-seq-user-data"))
    assert main(["install", "--userdir", str(userdir)]) == 2
    assert f"Cannot write the loader files under {userdir}" in caplog.text
    config = userdir / "config.json"
    assert main(["install", "--userdir", str(tmp_path / "ud"), "--config", str(config)]) == 2
    assert f"Cannot write the example config {config}" in caplog.text
