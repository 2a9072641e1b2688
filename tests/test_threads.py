"""`freqai-seq threads`: the ratios and the choice of the `num_threads` default from them, one
real (tiny) run through the command that writes its table into a docs page's block and leaves
no busy-loop process behind, and which thread count a sequence model sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import torch

from freqai_seq.cli.main import main
from freqai_seq.evaluation.threads import best_setting, format_report, summarize, worst_cases
from freqai_seq.freqaimodels import PyTorchGRURegressor
from freqai_seq.model.config_schema import SequenceConfig
from tests.seqkit import make_config


def _report(seconds: dict[tuple[int, str], list[float]]) -> dict:
    """A report of one network with the given seconds per (threads, condition)."""
    runs = [{"network": "gru", "threads": t, "condition": c, "seconds": s, "torch_threads": t or 2,
             "load_1min": 0.5 if c == "idle" else 1.5}
            for (t, c), values in seconds.items() for s in values]
    return {"settings": {"networks": ["gru"], "threads": [1, 2, 0], "repeat": 3, "epochs": 1,
                         "days": 30, "busy": 1, "config": "config.json"},
            "shape": {"config_days": 180, "pairs": 5, "rows_per_pair": 720, "features": 52,
                      "window": 24, "batch_size": 64, "train_windows": 2765, "val_windows": 720},
            "cpu_count": 2, "runs": runs}


def test_the_lowest_worst_case_wins_not_the_fastest_idle_time() -> None:
    # two threads are faster on the idle machine but far slower beside another process
    report = _report({(1, "idle"): [2.0, 1.0, 3.0], (1, "busy"): [2.4, 2.2, 9.0],
                      (2, "idle"): [0.6, 0.5, 0.7], (2, "busy"): [10.0, 12.0, 14.0],
                      (0, "idle"): [0.6, 0.6, 0.6], (0, "busy"): [8.0, 8.0, 8.0]})
    cells = summarize(report)
    assert cells[("gru", 2, "busy")].ratio == 6.0  # median 12.0 over the baseline's median 2.0
    assert cells[("gru", 1, "busy")].seconds == [2.2, 2.4, 9.0]
    assert worst_cases(cells) == {1: 1.2, 2: 6.0, 0: 4.0}
    assert best_setting(cells) == 1
    table = format_report(report)
    assert "| PyTorchGRURegressor | 2 | 0.60 (0.50-0.70) | 0.30x | 12.00 (10.00-14.00) | 6.00x |" \
        in table
    assert "| torch's default (2) | 4.00x |" in table
    assert "idle 0.50 (0.50-0.50), busy 1.50 (1.50-1.50)." in table
    assert table.endswith("Lowest worst case: 1 thread(s).")
    # when more threads are no worse in either condition, they are chosen
    faster = _report({(1, "idle"): [2.0], (1, "busy"): [3.0], (2, "idle"): [1.0],
                      (2, "busy"): [1.5], (0, "idle"): [1.0], (0, "busy"): [1.6]})
    assert best_setting(summarize(faster)) == 2


def test_a_real_run_writes_its_block_and_stops_its_busy_loop(tmp_path: Path) -> None:
    page = tmp_path / "scale-out.md"
    page.write_text("before\n<!-- threads -->\nold\n<!-- /threads -->\nafter\n")
    before = set(psutil.Process().children(recursive=True))
    code = main(["threads", "--networks", "gru", "--threads", "1", "--repeat", "1", "--days",
                 "2", "--out", str(tmp_path / "out"), "--page", str(page)])
    assert code == 0
    text = page.read_text()
    assert text.startswith("before\n<!-- threads -->\n`freqai-seq threads`: cross-pair")
    assert "| PyTorchGRURegressor | 1 | " in text and "| 1.00x |" in text
    assert "Lowest worst case: 1 thread(s).\n<!-- /threads -->\nafter\n" in text
    assert "old" not in text
    assert (tmp_path / "out" / "threads.md").read_text() in text
    assert (tmp_path / "out" / "threads.json").exists()
    assert set(psutil.Process().children(recursive=True)) <= before


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Each test's regressors set the process's torch threads: put them back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_the_measured_default_applies_unless_the_config_or_omp_num_threads_chose(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torch_threads: None) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    PyTorchGRURegressor(config=make_config(tmp_path))  # num_threads unset
    assert torch.get_num_threads() == SequenceConfig.num_threads == 1
    PyTorchGRURegressor(config=make_config(tmp_path, num_threads=2))
    assert torch.get_num_threads() == 2
    # a process started with OMP_NUM_THREADS (the walk-forward's workers) keeps that count
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    PyTorchGRURegressor(config=make_config(tmp_path, num_threads=None))  # null: unset
    assert torch.get_num_threads() == 2
    PyTorchGRURegressor(config=make_config(tmp_path, num_threads=1))  # the config wins
    assert torch.get_num_threads() == 1
    PyTorchGRURegressor(config=make_config(tmp_path, num_threads=0))  # torch's own: untouched
    assert torch.get_num_threads() == 1
