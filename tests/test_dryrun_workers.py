"""A real fast-replay dry-run bot with `live_training_workers: 2`: two pairs retrain at the same
time, their networks in worker processes of the bot, while the bot keeps predicting each new
candle with the models it has; `dryrun stop` leaves no worker behind."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from freqai_seq.runs import dryrun
from tests.conftest import free_port, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dryrun_workers")]

PAIRS = ("BTC/USD", "ETH/USD")
WAIT_S = 200  # the first trainings and a new 1m candle, on a busy 2-core machine
LOG_LINE = re.compile(r"^(\S+ \S+) - \S+ - INFO - -+ (Starting|Done) training (\S+)", re.M)
INFERENCE_LINE = re.compile(r"^(\S+ \S+) - \S+ - INFO - Total time spent inferencing pairlist "
                            r"([0-9.]+) seconds", re.M)


def stamp_s(stamp: str) -> float:
    """A log line's time (the bot logs local time) in epoch seconds."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def trainings(log: str, read_at: float) -> tuple[list[tuple[str, float, float]],
                                                 list[tuple[float, float]]]:
    """(pair, start, end) of every finished training in the bot's log, in wall-clock seconds,
    and the spans of all trainings, those still running when the log was read included."""
    started: dict[str, float] = {}
    done = []
    for stamp, what, pair in LOG_LINE.findall(log):
        at = stamp_s(stamp)
        if what == "Starting":
            started[pair] = at
        elif pair in started:
            done.append((pair, started.pop(pair), at))
    running = [(start, read_at) for start in started.values()]
    return done, [(start, end) for _, start, end in done] + running


def merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The times in which at least one training ran, as disjoint spans."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def workers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


def test_pairs_retrain_at_once_in_workers_while_the_bot_keeps_predicting(
        tmp_path: Path, datadir: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"window": 12, "hidden_size": 32, "epochs": 40,
                                  "early_stopping_patience": 0,
                                  "live_training_workers": 2}))
    userdir = tmp_path / "user_data"
    folder = userdir / "dryrun"
    started = run_cli("dryrun", "start", "--fast", "--pairs", *PAIRS, "--training-params",
                      str(params), "--live-retrain-hours", "0", "--userdir", str(userdir),
                      "--datadir", str(datadir), "--api-port", str(free_port()))
    assert started.returncode == 0, started.stderr[-3000:]
    state = dryrun.bot_state(folder)
    assert state is not None
    try:
        # the first usable predictions of both pairs, read through the REST API
        seen: list[str] = []
        pool_pids: set[int] = set()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not seen:
            assert dryrun.bot_state(folder) is not None, "bot died"
            pool_pids |= {p.pid for p in workers_of(state.pid)}
            try:
                latest = dryrun.latest_predictions(folder)
            except (dryrun.FreqaiSeqError, ValueError):
                latest = []  # the API is not up yet
            usable = [p.date for p in latest if p.do_predict == 1]
            if len(usable) == len(PAIRS):
                seen = usable
            time.sleep(0.5)
        read_at = time.time()
        log = Path(state.log_file).read_text()
    finally:
        stopped = run_cli("dryrun", "stop", "--userdir", str(userdir))
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert "Live retraining: 2 pairs at a time" in log, log[-3000:]
    assert seen, f"no usable prediction within {WAIT_S} s\n{log[-3000:]}"
    assert len(pool_pids) == 2, pool_pids
    done, spans = trainings(log, read_at)
    assert {pair for pair, _, _ in done} == set(PAIRS)
    assert log.count("trained in a worker process") >= len(done)
    # trainings of the two pairs overlapped in time
    assert any(a[1] < b[2] and b[1] < a[2] for a in done for b in done
               if (a[0], b[0]) == PAIRS), done
    # A new candle was predicted, with the models the bot had, while retrainings ran: FreqAI's
    # main loop logs each candle's inference when it is done, with the time it took.
    busy = merged(spans)
    models_ready = max(min(end for pair, _, end in done if pair == p) for p in PAIRS)
    inferences = [(stamp_s(stamp) - float(took), stamp_s(stamp))
                  for stamp, took in INFERENCE_LINE.findall(log)]
    assert any(models_ready < began and start <= began and ended <= end
               for began, ended in inferences for start, end in busy), (inferences, busy[-4:])
    assert "Traceback" not in log, log[-3000:]
    deadline = time.monotonic() + 15  # the workers exit with the bot, on a busy machine too
    while any(psutil.pid_exists(pid) for pid in pool_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(not psutil.pid_exists(pid) for pid in pool_pids), "a training worker survived"
