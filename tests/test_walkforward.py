"""Walk-forward trainings spread over worker processes and a real Dask cluster: the same
predictions and backtest summary whatever the split, a killed worker reported and resumed
without retraining what finished, and Ctrl-C leaving no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from freqai_seq.run_fingerprint import FINGERPRINT_FILE
from freqai_seq.runs.walkforward.plan import Task, deal, make_tasks, split_rule
from tests.conftest import ROOT, run_cli

PAIRS = ["BTC/USD", "ETH/USD"]
TIMERANGE = "20190801-20190822"  # three 7-day windows per pair after 30 training days
LONGER = "20190801-20190912"  # six: a worker killed after its first window has more to do
TINY = {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2}


def _args(userdir: Path, identifier: str, params: Path, *extra: str,
          timerange: str = TIMERANGE) -> list[str]:
    return ["backtest", "-c", "config.json", "-c", "config.per-pair.json", "-p", *PAIRS,
            "--timerange", timerange, "--training-params", str(params), "--identifier",
            identifier, "--userdir", str(userdir), *extra]


def _params(folder: Path, **changes: int) -> Path:
    path = folder / f"params-{len(changes)}.json"
    path.write_text(json.dumps({**TINY, **changes}))
    return path


def _predictions(userdir: Path, identifier: str) -> dict[str, pd.DataFrame]:
    folder = userdir / "models" / identifier / "backtesting_predictions"
    return {f.name: pd.read_feather(f) for f in sorted(folder.glob("*_prediction.feather"))}


def _pair_dictionary(userdir: Path, identifier: str) -> dict[str, dict]:
    """FreqAI's pair_dictionary.json with each data_path relative to the models folder."""
    models = userdir / "models" / identifier
    drawer = json.loads((models / "pair_dictionary.json").read_text())
    for entry in drawer.values():
        entry["data_path"] = str(Path(entry["data_path"]).relative_to(models.resolve()))
    return drawer


def _summary(stdout: str) -> str:
    """freqtrade's TOTAL row of the strategy summary."""
    rows = re.findall(r"│ +TOTAL │.*", stdout)
    assert rows, stdout[-3000:]
    return rows[0]


def test_the_split_follows_what_chains_windows() -> None:
    plain = {"freqai": {"model_training_parameters": {}}}
    cross = {"freqai": {"model_training_parameters": {"cross_pair": True}}}
    chained = {"freqai": {"continual_learning": True, "model_training_parameters": {}}}
    assert [split_rule(c) for c in (plain, cross, chained)] == ["pair-window", "window", "pair"]
    assert make_tasks(["A/X", "B/X"], [1, 2], "window") == [Task(("A/X", "B/X"), (1,)),
                                                          Task(("A/X", "B/X"), (2,))]
    assert make_tasks(["A/X", "B/X"], [1, 2], "pair") == [Task(("A/X",), (1, 2)),
                                                        Task(("B/X",), (1, 2))]
    # dealt in contiguous, near-equal runs: a batch engineers the features of few pairs
    tasks = make_tasks(["A/X", "B/X", "C/X"], [1, 2, 3, 4], "pair-window")
    assert deal(tasks, 2) == [{"A/X": [1, 2, 3, 4], "B/X": [1, 2]},
                              {"B/X": [3, 4], "C/X": [1, 2, 3, 4]}]
    assert deal(tasks[:1], 4) == [{"A/X": [1]}]


def test_a_prediction_file_cut_short_by_a_killed_batch_is_not_collected(tmp_path: Path) -> None:
    """A batch killed while FreqAI writes a prediction file leaves part of it: collected, it
    would count as done and fail every rerun's final backtest; left behind, a rerun trains it."""
    from freqai_seq.runs.walkforward.workdir import collect

    batch = tmp_path / "batch-0"
    written = batch / "user_data" / "models" / "w" / "backtesting_predictions"
    written.mkdir(parents=True)
    frame = pd.DataFrame({"&-s_close": [0.1, 0.2, 0.3], "do_predict": [1, 1, 1]})
    frame.to_feather(written / "cb_btc_1565222400_prediction.feather")
    frame.to_feather(written / "cb_eth_1565222400_prediction.feather")
    whole = (written / "cb_eth_1565222400_prediction.feather").read_bytes()
    (written / "cb_eth_1565222400_prediction.feather").write_bytes(whole[:len(whole) // 2])
    models = tmp_path / "ud" / "models" / "w"
    assert collect([batch], models) == 1
    collected = list((models / "backtesting_predictions").iterdir())
    assert [f.name for f in collected] == ["cb_btc_1565222400_prediction.feather"]
    pd.testing.assert_frame_equal(pd.read_feather(collected[0]), frame)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real Dask scheduler and two single-thread worker processes on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    logs = (tmp_path / "scheduler.log").open("wb"), (tmp_path / "workers.log").open("wb")
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                  str(port), "--no-dashboard"], stdout=logs[0],
                                 stderr=subprocess.STDOUT)
    workers = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "2",
                                "--no-dashboard", "--local-directory", str(tmp_path / "dask")],
                               stdout=logs[1], stderr=subprocess.STDOUT)
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in (workers, scheduler):
            proc.terminate()
        for proc in (workers, scheduler):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


@pytest.mark.integration
def test_one_and_two_workers_and_a_dask_cluster_give_the_same_backtest(
        tmp_path: Path, datadir: Path, dask_cluster: str) -> None:
    # one torch thread in FreqAI's own single process too, as in every worker
    params = _params(tmp_path, num_threads=1)
    runs = {name: run_cli(*_args(tmp_path / "ud", name, params, *extra), timeout=600)
            for name, extra in (("freqai", []), ("one", ["--workers", "1"]),
                                ("two", ["--workers", "2"]),
                                ("dask", ["--cluster", dask_cluster]))}
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stdout[-3000:] + run.stderr[-3000:])
    assert "6 to train on 2 Dask worker slots" in runs["dask"].stderr
    reference = _predictions(tmp_path / "ud", "freqai")
    assert len(reference) == 6  # 2 pairs x 3 windows
    drawer = _pair_dictionary(tmp_path / "ud", "freqai")
    assert set(drawer) == set(PAIRS)
    for name in ("one", "two", "dask"):
        predictions = _predictions(tmp_path / "ud", name)
        assert list(predictions) == list(reference), name
        for file, frame in reference.items():
            pd.testing.assert_frame_equal(predictions[file], frame, check_exact=True)
        assert _summary(runs[name].stdout) == _summary(runs["freqai"].stdout), name
        # the drawer file names each pair's newest model in this run's own folder
        assert _pair_dictionary(tmp_path / "ud", name) == drawer, name
    # freqtrade's own backtest ran once over the workers' predictions, training nothing
    assert "Found backtesting prediction file" in runs["two"].stdout
    assert "Done training" not in runs["two"].stdout
    # the batches' run fingerprint came with their files (not adopted as an unknown folder),
    # and a run on other settings stops before any batch or freqtrade starts
    recorded = {name: (tmp_path / "ud" / "models" / name / FINGERPRINT_FILE).read_text()
                for name in runs}
    assert len(set(recorded.values())) == 1
    assert FINGERPRINT_FILE not in runs["two"].stdout + runs["two"].stderr
    changed = run_cli(*_args(tmp_path / "ud", "two", _params(tmp_path, num_threads=1, epochs=3),
                             "--workers", "2", timerange=LONGER), timeout=600)
    output = changed.stdout + changed.stderr
    assert changed.returncode != 0 and "model_training_parameters.epochs 2 -> 3" in output
    assert "Done training" not in output
    assert len(_predictions(tmp_path / "ud", "two")) == 6  # the batches merged nothing


def _found(folder: Path, pattern: str) -> bool:
    return folder.is_dir() and any(folder.glob(pattern))


def _worker_of(driver: psutil.Process, batch: str) -> psutil.Process | None:
    for child in driver.children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "batch" in cmdline and cmdline[-1].endswith(batch):
            return child
    return None


@pytest.mark.integration
def test_a_killed_worker_is_named_and_a_rerun_trains_only_what_is_missing(
        tmp_path: Path, datadir: Path) -> None:
    params = _params(tmp_path, epochs=6)  # slow enough to be caught between two windows
    userdir = tmp_path / "ud"
    args = [sys.executable, "-m", "freqai_seq.cli",
            *_args(userdir, "killed", params, "--workers", "2", timerange=LONGER)]
    driver = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    staging = userdir / "walkforward" / "killed"
    deadline = time.monotonic() + 300
    while not _found(staging, "batch-0/user_data/models/*/backtesting_predictions/*"):
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.05)
    worker = _worker_of(psutil.Process(driver.pid), "batch-0")
    assert worker is not None
    worker.kill()
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 1, out[-2000:] + err[-2000:]
    assert "failed: exit 1" in err and "not trained" in err, err[-3000:]
    assert re.search(r"BTC/USD, window ending 2019-08-\d\d 00:00: not trained", err), err[-3000:]
    kept = {f: f.stat().st_mtime_ns for f in (userdir / "models" / "killed").glob(
        "backtesting_predictions/*.feather")}
    assert 1 <= len(kept) < 12  # the finished windows were kept, the killed batch's rest not

    rerun = run_cli(*_args(userdir, "killed", params, "--workers", "2", timerange=LONGER),
                    timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"{len(kept)} already trained" in rerun.stderr
    assert f"{12 - len(kept)} windows trained" in rerun.stderr
    for file, mtime in kept.items():  # not trained again
        assert file.stat().st_mtime_ns == mtime, file
    assert len(_predictions(userdir, "killed")) == 12


@pytest.mark.integration
def test_ctrl_c_stops_every_worker_freqtrade_and_market(tmp_path: Path, datadir: Path) -> None:
    params = _params(tmp_path, epochs=6)
    userdir = tmp_path / "ud"
    driver = subprocess.Popen(
        [sys.executable, "-m", "freqai_seq.cli",
         *_args(userdir, "interrupted", params, "--workers", "2")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 300
    staging = userdir / "walkforward" / "interrupted"
    while not all(_found(staging, f"batch-{i}/freqtrade.log") for i in (0, 1)):
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.05)
    time.sleep(2)  # freqtrade is loading data or training in both workers
    os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    driver.communicate(timeout=120)
    assert driver.returncode == 130
    # nothing left the moment the command has exited: the driver's SIGTERM after the Ctrl-C
    # does not cut short a worker stopping its freqtrade and market
    left = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in part for part in proc.info["cmdline"] or []):
            left.append(proc.info["cmdline"])
    assert not left


def test_a_workers_config_has_placeholders_freqtrade_accepts(tmp_path: Path,
                                                             datadir: Path) -> None:
    """A config with an API server (its JWT key must have 32 characters) and other credentials:
    the batch's config holds none of them, and passes the check the worker itself runs."""
    from freqai_seq.runs.run_config import RunSpec, check_run_inputs
    from freqai_seq.runs.walkforward.workdir import batch_config

    secrets = ("EXCHANGEKEY1", "EXCHANGESECRET2", "APIPASSWORD3", "JWTKEY4" * 5, "WSTOKEN5",
               "TELEGRAMTOKEN6")
    user = tmp_path / "secrets.json"
    user.write_text(json.dumps({
        "exchange": {"key": secrets[0], "secret": secrets[1]},
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": 8080,
                       "username": "bot", "password": secrets[2],
                       "jwt_secret_key": secrets[3], "ws_token": [secrets[4]]},
        "telegram": {"enabled": False, "token": secrets[5], "chat_id": "0"}}))
    spec = RunSpec("FreqaiSeqStrategy", "PyTorchLSTMRegressor", TIMERANGE, "w", None,
                   ("BTC/USD",))
    inputs = check_run_inputs([ROOT / "config.json", user], spec, "backtesting", datadir)
    worker = tmp_path / "worker.json"
    worker.write_text(json.dumps(batch_config(inputs)))
    assert not [s for s in secrets if s in worker.read_text()]
    check_run_inputs([worker], spec, "backtesting", datadir)  # no error


def test_workers_refuse_freqai_backtest_live_models_before_starting(
        tmp_path: Path, datadir: Path, caplog: pytest.LogCaptureFixture) -> None:
    from freqai_seq.cli.main import main

    assert main(["backtest", "--workers", "2", "--timerange", TIMERANGE, "-p", "BTC/USD",
                 "--userdir", str(tmp_path / "ud"), "--state-file", str(tmp_path / "m.json"),
                 "--", "--freqai-backtest-live-models"]) == 2
    assert "do not apply to --freqai-backtest-live-models" in caplog.text
    assert not (tmp_path / "ud").exists()
