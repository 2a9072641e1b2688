"""`freqai-seq threads`: how long the shipped networks train with 1, 2 and torch's default
threads, on an idle machine and beside a CPU-bound process, in one run.

The measurement behind the `num_threads` default: a training's OpenMP threads wait for each
other at every parallel op, so when another process holds a core the waits grow far beyond
the work (issue 26: a one-week GRU backtest 211.8 s with torch's default threads, 23.8 s with
one). Each training runs in a fresh subprocess, because torch's thread pool can only be sized
reliably before its first parallel op, through the training code FreqAI runs
(`train_network` on the pooled cross-pair windows), with the example config's shapes on random
inputs (the time does not depend on the values). Rounds interleave every network, thread count
and condition, so a machine that slows down during the run slows every cell alike. Ratios
compare medians of the same run.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freqai_seq import paths

logger = logging.getLogger(__name__)

NETWORKS = {"lstm": "PyTorchLSTMRegressor", "gru": "PyTorchGRURegressor",
            "cnn_lstm_attention": "PyTorchCNNLSTMAttentionRegressor"}
CONDITIONS = ("idle", "busy")
# FreqaiSeqStrategy's features under the example config, per pair after the cross-pair column
# alignment (its own 28 plus the BTC/USD corr block); the network adds the pair-id column.
EXAMPLE_FEATURES = 52


@dataclass(frozen=True)
class ThreadSettings:
    networks: tuple[str, ...] = tuple(NETWORKS)
    threads: tuple[int, ...] = (1, 2, 0)  # 0: torch's default (OMP_NUM_THREADS unset)
    repeat: int = 3
    # One epoch of the example config's 10 on 30 of its 180 days per pair: the time per step
    # is what the threads change, and the whole command stays within about 5 minutes on a
    # 2-core machine (`--days 180 --train-epochs 10` times the config's full training).
    epochs: int = 1
    days: int = 30
    busy: int = 1  # CPU-bound processes running beside the "busy" trainings
    config: Path = paths.EXAMPLES / "config.json"
    out_dir: Path = paths.USER_DATA / "threads"


@dataclass(frozen=True)
class Shape:
    """One cross-pair training of the example config: what the child process builds."""

    network: str
    params: dict[str, Any]  # model_training_parameters
    pairs: int
    rows_per_pair: int
    features: int
    test_size: float
    label_period: int
    timeframe_ns: int


def example_shape(s: ThreadSettings, network: str) -> Shape:
    """The config's cross-pair training of one walk-forward window, with `s.days` of candles
    per pair and `s.epochs` epochs."""
    from freqtrade.exchange import timeframe_to_seconds

    config = json.loads(s.config.read_text())
    freqai = config["freqai"]
    candle_s = timeframe_to_seconds(config["timeframe"])
    params = {**freqai["model_training_parameters"], "epochs": s.epochs,
              "early_stopping_patience": 0, "device": "cpu"}
    return Shape(network, params, len(config["exchange"]["pair_whitelist"]),
                 s.days * 86_400 // candle_s, EXAMPLE_FEATURES,
                 float(freqai["data_split_parameters"]["test_size"]),
                 int(freqai["feature_parameters"]["label_period_candles"]),
                 candle_s * 1_000_000_000)


def train_once(shape: Shape, threads: int) -> dict[str, Any]:
    """Time one training in this (fresh) process: `threads` torch threads as the regressor
    sets them (0 leaves torch's default)."""
    import numpy as np
    import pandas as pd
    import torch

    from freqai_seq.labels import return_label
    from freqai_seq.model.cross_pair.pooling import PairRows, pool_windows
    from freqai_seq.model.networks import NETWORKS as BUILDERS
    from freqai_seq.model.seeding import seed_everything
    from freqai_seq.model.sequence_model import (
        PAIR_ID_COLUMN,
        CrossPair,
        HistoryTail,
        SequenceModel,
    )
    from freqai_seq.model.tasks import parse_labels
    from freqai_seq.model.training import TaskLoss, train_network

    if threads:
        torch.set_num_threads(threads)
    cfg = BUILDERS[shape.network].config_class.from_params(shape.params)
    device = torch.device("cpu")
    generator = seed_everything(cfg.seed, cfg.deterministic)
    tf_ns = shape.timeframe_ns
    rng = np.random.default_rng(cfg.seed)
    pairs = tuple(f"P{i}/USD" for i in range(shape.pairs))
    n, n_train = shape.rows_per_pair, int(shape.rows_per_pair * (1 - shape.test_size))
    rows = [PairRows(pair, np.column_stack([rng.uniform(-1, 1, (n, shape.features)),
                                            np.full(n, i)]).astype(np.float32),
                     rng.normal(size=(n, 1)).astype(np.float32), np.ones(n, np.float32),
                     np.zeros((n, 0), np.int64), np.arange(n, dtype=np.int64) * tf_ns, n_train)
            for i, pair in enumerate(pairs)]
    data = pool_windows(rows, cfg.window, tf_ns, device)
    labels = [return_label(shape.label_period)]
    names = [f"%-f{j}" for j in range(shape.features)]
    model = SequenceModel(shape.network, cfg, [*names, PAIR_ID_COLUMN], labels, tf_ns,
                          HistoryTail(np.empty(0, np.int64), pd.DataFrame()), device=device,
                          cross=CrossPair(pairs, tuple(names), ()))
    loss_fn = TaskLoss(parse_labels(labels), len(labels), cfg, device)
    train, val = data.subset(data.train_ends, device), data.subset(data.val_ends, device)
    start = time.perf_counter()
    result = train_network(model.net, train, val, cfg, device, generator, loss_fn)
    return {"seconds": time.perf_counter() - start, "torch_threads": torch.get_num_threads(),
            "train_windows": len(train), "val_windows": len(val),
            "final_train_loss": result.history[-1]["train_loss"]}


def _child_env() -> dict[str, str]:
    """The environment without a thread-count variable: "default" is torch's own choice."""
    return {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def run_child(shape: Shape, threads: int) -> dict[str, Any]:
    job = json.dumps({"shape": asdict(shape), "threads": threads})
    done = subprocess.run([sys.executable, "-m", "freqai_seq.evaluation.threads", job],
                          env=_child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        from freqai_seq.errors import FreqaiSeqError

        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FreqaiSeqError(f"A timed {shape.network} training with {threads} thread(s) "
                             f"failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def busy_processes(count: int):
    """`count` CPU-bound Python processes (a busy loop each) for as long as the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(1.0)  # let them reach the scheduler's steady state
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def run(s: ThreadSettings) -> dict[str, Any]:
    from freqai_seq.errors import FreqaiSeqError

    unknown = sorted(set(s.networks) - set(NETWORKS))
    if unknown:
        raise FreqaiSeqError(f"Unknown networks {unknown}; choose from {list(NETWORKS)}.")
    shapes = {n: example_shape(s, n) for n in s.networks}
    runs: list[dict[str, Any]] = []
    for rep in range(s.repeat):
        for condition in CONDITIONS:
            with busy_processes(s.busy if condition == "busy" else 0):
                for network in s.networks:
                    # the thread counts in a rotating order: none always runs first
                    order = s.threads[rep % len(s.threads):] + s.threads[:rep % len(s.threads)]
                    for threads in order:
                        load = os.getloadavg()[0]  # how idle "idle" was
                        result = run_child(shapes[network], threads)
                        logger.info("threads: round %d/%d, %s, %s, %d thread(s): %.2f s",
                                    rep + 1, s.repeat, condition, network,
                                    result["torch_threads"], result["seconds"])
                        runs.append({"round": rep, "condition": condition, "network": network,
                                     "threads": threads, "load_1min": load, **result})
    first = shapes[s.networks[0]]
    report = {"settings": {**asdict(s), "config": str(s.config), "out_dir": str(s.out_dir)},
              "shape": {"config_days": json.loads(s.config.read_text())["freqai"][
                            "train_period_days"],
                        "pairs": first.pairs, "rows_per_pair": first.rows_per_pair,
                        "features": first.features, "window": first.params["window"],
                        "batch_size": first.params["batch_size"],
                        "train_windows": runs[0]["train_windows"],
                        "val_windows": runs[0]["val_windows"]},
              "cpu_count": os.cpu_count(), "runs": runs}
    s.out_dir.mkdir(parents=True, exist_ok=True)
    (s.out_dir / "threads.json").write_text(json.dumps(report, indent=2))
    return report


@dataclass(frozen=True)
class Cell:
    seconds: list[float]
    ratio: float  # median over the network's baseline median (first thread setting, idle)


def summarize(report: dict[str, Any]) -> dict[tuple[str, int, str], Cell]:
    """(network, threads, condition) -> its times and ratio to the network's baseline."""
    s = report["settings"]
    times: dict[tuple[str, int, str], list[float]] = {}
    for r in report["runs"]:
        times.setdefault((r["network"], r["threads"], r["condition"]), []).append(r["seconds"])
    baseline = {n: statistics.median(times[(n, s["threads"][0], "idle")]) for n in s["networks"]}
    return {key: Cell(sorted(v), statistics.median(v) / baseline[key[0]])
            for key, v in times.items()}


def worst_cases(cells: dict[tuple[str, int, str], Cell]) -> dict[int, float]:
    """Each thread setting's worst ratio over networks and conditions."""
    worst: dict[int, float] = {}
    for (_, threads, _), cell in cells.items():
        worst[threads] = max(worst.get(threads, 0.0), cell.ratio)
    return worst


def best_setting(cells: dict[tuple[str, int, str], Cell]) -> int:
    """The thread setting with the lowest worst case (the first listed on a tie)."""
    worst = worst_cases(cells)
    return min(worst, key=worst.__getitem__)


def threads_label(threads: int, report: dict[str, Any]) -> str:
    if threads:
        return str(threads)
    used = {r["torch_threads"] for r in report["runs"] if r["threads"] == 0}
    return f"torch's default ({', '.join(str(u) for u in sorted(used))})"


def format_report(report: dict[str, Any]) -> str:
    s, shape = report["settings"], report["shape"]
    cells = summarize(report)
    base = threads_label(s["threads"][0], report)
    loads = {c: [r["load_1min"] for r in report["runs"] if r["condition"] == c]
             for c in CONDITIONS}
    lines = [
        f"`freqai-seq threads`: cross-pair trainings shaped as the example "
        f"`{Path(s['config']).name}`'s, on {s['days']} of its {shape['config_days']} training "
        f"days: {shape['pairs']} pairs x {shape['rows_per_pair']} rows, "
        f"{shape['features']} features + pair id, window {shape['window']}, batch "
        f"{shape['batch_size']}, {shape['train_windows']} training and {shape['val_windows']} "
        f"validation windows, {s['epochs']} epoch(s); each training in a fresh process; "
        f"{s['repeat']} rounds interleaving networks, thread counts and conditions; busy = "
        f"{s['busy']} CPU-bound process(es) beside it; {report['cpu_count']} cores; 1-minute "
        "load average before each training (this command's trainings and busy loop count "
        "in it): "
        + ", ".join(f"{c} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
                    for c, v in loads.items())
        + f". Seconds: median (min-max); ratio: median over the same network's median with "
        f"{base} thread(s) on the idle machine.",
        "",
        "| network | threads | idle s | idle ratio | busy s | busy ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: |"]
    for network in s["networks"]:
        for threads in s["threads"]:
            row = [NETWORKS[network], threads_label(threads, report)]
            for condition in CONDITIONS:
                cell = cells[(network, threads, condition)]
                row += [f"{statistics.median(cell.seconds):.2f} "
                        f"({cell.seconds[0]:.2f}-{cell.seconds[-1]:.2f})", f"{cell.ratio:.2f}x"]
            lines.append("| " + " | ".join(row) + " |")
    worst = worst_cases(cells)
    best = best_setting(cells)
    lines += ["", "| threads | worst ratio (any network, idle or busy) |", "| --- | ---: |"]
    lines += [f"| {threads_label(t, report)} | {worst[t]:.2f}x |" for t in s["threads"]]
    lines += ["", f"Lowest worst case: {threads_label(best, report)} thread(s)."]
    return "\n".join(lines)


if __name__ == "__main__":  # one timed training: `run_child` starts this
    job = json.loads(sys.argv[1])
    print(json.dumps(train_once(Shape(**job["shape"]), int(job["threads"]))))
