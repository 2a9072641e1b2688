"""What a spread walk-forward trains, and in which batches: FreqAI's own windows, the rule that
keeps chained windows together, the deal into batches, and the files a batch and its driver
exchange. Plain data and pure functions: nothing here starts a process.

Windows are independent unless something chains them: `continual_learning` starts each
training from the pair's previous model, so a pair's windows stay in one batch, in order; a
cross-pair network trains on every pair's rows of one window, so a window's pairs stay
together. Seeds are per training, and the torch / OpenMP thread count per training is the same
in every batch, so the predictions do not depend on how the work was split.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from freqai_seq.runs.run_config import RunInputs

#: the module a batch runs in, locally or on a Dask worker: `python -m WORKER_MODULE batch DIR`
WORKER_MODULE = "freqai_seq.runs.walkforward.worker"
BATCH_FILE, OUTCOME_FILE = "batch.json", "outcome.json"
# (pair, model id) of every training FreqAI gave up on: it then writes a prediction file of
# zeros, which must not count as a finished window
FAILED_FILE = "failed-windows.jsonl"


@dataclass(frozen=True)
class WorkerPlan:
    """A spread walk-forward: `workers` batches, locally or on the Dask scheduler at
    `cluster`, each training with `threads` threads."""

    workers: int
    threads: int = 1
    cluster: str | None = None


@dataclass(frozen=True)
class Task:
    """Windows that train together: the unit a batch is dealt."""

    pairs: tuple[str, ...]
    windows: tuple[int, ...]  # FreqAI model ids: the end of each training range (seconds)


@dataclass(frozen=True)
class Batch:
    """What one worker trains: `windows` maps each pair to the FreqAI model ids (training-range
    end timestamps) it trains; everything else is the run's."""

    strategy: str
    model: str
    timerange: str
    identifier: str
    windows: dict[str, list[int]]
    threads: int  # torch / OpenMP threads per training, the same in every worker
    datadir: str  # candles; "" = WORKDIR/data (shipped with the batch)
    config: str = "config.json"  # in WORKDIR: the run's merged config, without credentials

    def write(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / BATCH_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, workdir: Path) -> Batch:
        return cls(**json.loads((workdir / BATCH_FILE).read_text()))


@dataclass(frozen=True)
class Outcome:
    code: int  # the runner's verdict: 0, 1, or 130 when interrupted
    failed_trainings: int
    tail: str  # the last lines of freqtrade's output

    @classmethod
    def read(cls, path: Path) -> Outcome:
        return cls(**json.loads(path.read_text()))


def planned_windows(inputs: RunInputs, timerange: str, models: Path) -> list[int]:
    """The model ids of FreqAI's training windows for this timerange, from its own split."""
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

    # FreqAI's kitchen copies the first config file into a models folder it creates; the
    # folder made here first keeps the user's file (and any credential in it) out of it.
    models.mkdir(parents=True, exist_ok=True)
    config = {**inputs.merged, "timerange": timerange, "user_data_dir": models.parent.parent,
              "config_files": [str(c) for c in inputs.configs]}
    kitchen = FreqaiDataKitchen(config)
    return [int(tr.stopts) for tr in kitchen.training_timeranges]


def split_rule(merged: dict[str, Any]) -> str:
    """How the windows may be split: by "pair-window", "window" (cross-pair), "pair"
    (continual_learning chains a pair's windows) or "none" (both)."""
    freqai = merged.get("freqai", {})
    cross = bool((freqai.get("model_training_parameters") or {}).get("cross_pair"))
    chained = bool(freqai.get("continual_learning"))
    return {(False, False): "pair-window", (True, False): "window",
            (False, True): "pair", (True, True): "none"}[(cross, chained)]


def make_tasks(pairs: list[str], windows: list[int], rule: str) -> list[Task]:
    """The tasks in pair-major, then chronological order."""
    if rule == "pair-window":
        return [Task((p,), (w,)) for p in pairs for w in windows]
    if rule == "window":
        return [Task(tuple(pairs), (w,)) for w in windows]
    if rule == "pair":
        return [Task((p,), tuple(windows)) for p in pairs]
    return [Task(tuple(pairs), tuple(windows))]


def prediction_file(models: Path, pair: str, window: int) -> Path:
    """FreqAI's prediction file of one window (data_kitchen.set_new_model_names)."""
    coin = pair.split("/")[0].lower()
    return models / "backtesting_predictions" / f"cb_{coin}_{window}_prediction.feather"


def unfinished(tasks: list[Task], models: Path) -> list[Task]:
    """Tasks with a window still to train. A chained task restarts whole: its first
    unfinished window needs the ones before it in the same process."""
    return [t for t in tasks if any(not prediction_file(models, p, w).is_file()
                                    for p in t.pairs for w in t.windows)]


def deal(tasks: list[Task], n: int) -> list[dict[str, list[int]]]:
    """`tasks` cut into at most `n` contiguous runs of near-equal length, each as
    {pair: [model ids]}: contiguous, so a batch computes the features of as few pairs as it
    can (every batch loads and engineers each of its pairs over the whole timerange)."""
    count = min(n, len(tasks))
    bounds = [round(i * len(tasks) / count) for i in range(count + 1)]
    batches = []
    for start, stop in pairwise(bounds):
        windows: dict[str, list[int]] = {}
        for task in tasks[start:stop]:
            for pair in task.pairs:
                windows.setdefault(pair, []).extend(task.windows)
        batches.append({p: sorted(w) for p, w in windows.items()})
    return batches
