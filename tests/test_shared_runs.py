"""The suite's shared backtests are kept by everything that changes them: a reused identifier
with other parameters fails loudly instead of handing over the other run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BacktestRun, BacktestSpec, SharedRuns


def spec(identifier: str = "it-x", **changes: object) -> BacktestSpec:
    fields: dict = {"model": "PyTorchLSTMRegressor", "strategy": "FreqaiSeqStrategy",
                    "pairs": ("BTC/USD",), "params": json.dumps({"epochs": 2}), "extra": ()}
    return BacktestSpec(identifier, **{**fields, **changes})


def counted(started: list[str]):
    def start(name: str) -> BacktestRun:
        started.append(name)
        return BacktestRun(subprocess.CompletedProcess([], 0), Path(name), name)
    return start


def test_the_same_spec_runs_once_and_another_identifier_runs_again() -> None:
    started: list[str] = []
    start = counted(started)
    shared = SharedRuns()
    first = shared.get(spec(), lambda: start("a"))
    assert shared.get(spec(), lambda: start("b")) is first
    shared.get(spec("it-y", params=json.dumps({"epochs": 3})), lambda: start("c"))
    assert started == ["a", "c"]


@pytest.mark.parametrize("changes", [
    {"model": "PyTorchGRURegressor"}, {"strategy": "FreqaiSeqMultiTaskStrategy"},
    {"pairs": ("BTC/USD", "ETH/USD")}, {"params": json.dumps({"epochs": 3})},
    {"extra": ("--validate",)}, {"timerange": "20190801-20190808"},
    {"configs": ("other.json",)},
])
def test_a_reused_identifier_with_other_parameters_fails(changes: dict) -> None:
    started: list[str] = []
    shared = SharedRuns()
    shared.get(spec(), lambda: counted(started)("a"))
    with pytest.raises(pytest.fail.Exception, match="'it-x' asked for with other parameters"):
        shared.get(spec(**changes), lambda: counted(started)("b"))
    assert started == ["a"]
