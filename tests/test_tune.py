"""`freqai-seq tune`: real Optuna studies on the bundled candles, with real (tiny) trainings
through FreqAI's data kitchen and the model's own train/predict."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from freqai_seq.cli import main
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.tune import study as tune_study
from freqai_seq.evaluation.tune.settings import TuneSettings
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.runs.workspace import Workspace
from tests import postgres
from tests.conftest import ROOT

# A small network on one pair, two 2-day windows after 10 days of training: a trial takes a
# second or two on 2 cores.
BASE_PARAMS = {"window": 8, "hidden_size": 8, "head_hidden": 8, "epochs": 2, "batch_size": 64,
               "seed": 42}
SPACE = {"window": {"type": "int", "low": 4, "high": 12, "step": 4},
         "hidden_size": {"type": "categorical", "choices": [8, 16]},
         "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
         "dropout": {"type": "float", "low": 0.0, "high": 0.3},
         "weight_decay": None, "batch_size": None, "num_layers": None}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tune-inputs")
    (folder / "params.json").write_text(json.dumps(BASE_PARAMS))
    (folder / "space.json").write_text(json.dumps(SPACE))
    return folder


def tiny(inputs: Path, out: Path, **changes: object) -> TuneSettings:
    settings = TuneSettings(
        study="tiny", training_params=inputs / "params.json", space=inputs / "space.json",
        workspace=Workspace(pairs=("BTC/USD",)), windows=2, train_days=10, predict_days=2,
        end="20190401", epochs=2, n_trials=4, seed=7, prune_startup_trials=1,
        prune_warmup_windows=0, threads=1, out_dir=out)
    return dataclasses.replace(settings, **changes)


def trials(settings: TuneSettings) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=settings.study_name,
                             storage=settings.storage_url).get_trials()


@pytest.fixture(scope="module")
def twin_studies(datadir: Path, inputs: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[TuneSettings, TuneSettings, tune_study.TuneReport]:
    """The same tiny study twice, each in its own SQLite file, with the same seed."""
    first = tiny(inputs, tmp_path_factory.mktemp("tune-a"))
    second = tiny(inputs, tmp_path_factory.mktemp("tune-b"))
    report = tune_study.run(first)
    tune_study.run(second)
    return first, second, report


def test_same_seed_gives_the_same_trials(twin_studies) -> None:
    first, second, _ = twin_studies
    a, b = trials(first), trials(second)
    assert len(a) == len(b) == 4
    assert [t.params for t in a] == [t.params for t in b]
    assert [t.state for t in a] == [t.state for t in b]
    assert [t.value for t in a] == [t.value for t in b]
    assert [t.intermediate_values for t in a] == [t.intermediate_values for t in b]
    assert len({json.dumps(t.params, sort_keys=True) for t in a}) == 4


def test_running_ic_is_reported_per_window_and_bad_trials_are_pruned(twin_studies) -> None:
    first, _, _ = twin_studies
    done = trials(first)
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    pruned = [t for t in done if t.state == TrialState.PRUNED]
    assert complete and pruned, [(t.state, t.intermediate_values) for t in done]
    assert not [t for t in done if t.state == TrialState.FAIL]
    for t in complete:
        assert sorted(t.intermediate_values) == [0, 1]  # one report per window
        assert t.value == pytest.approx(t.intermediate_values[1])
        assert -1 <= t.value <= 1
    for t in pruned:  # stopped after the first window, below the median of the complete ones
        assert sorted(t.intermediate_values) == [0]
        first_complete = min(complete, key=lambda c: c.number)
        assert t.number > first_complete.number


def test_best_snippet_holds_valid_keys_and_the_baseline_is_reported(twin_studies) -> None:
    first, _, report = twin_studies
    snippet = json.loads(first.best_file.read_text())
    assert snippet == report.snippet
    params = snippet["freqai"]["model_training_parameters"]
    SequenceConfig.from_params(params)  # every key valid, every type right
    assert set(params) <= {f.name for f in dataclasses.fields(SequenceConfig)}
    assert {"window", "hidden_size", "learning_rate", "dropout"} <= set(params)
    assert params["epochs"] == 2 and params["head_hidden"] == 8  # the base params ride along
    best = optuna.load_study(study_name="tiny", storage=first.storage_url).best_trial
    assert params == {**BASE_PARAMS, **best.params}
    text = tune_study.format_report(report)
    scores = report.best["scores"]
    assert scores["rows"] > 50 and -1 <= scores["persistence_ic"] <= 1
    assert f"persistence IC {scores['persistence_ic']:.4f}" in text
    assert "zero forecast IC 0" in text and '"model_training_parameters"' in text


def test_another_seed_samples_other_trials(twin_studies, inputs: Path, tmp_path: Path) -> None:
    first, _, _ = twin_studies
    tune_study.run(tiny(inputs, tmp_path, seed=8, n_trials=1))
    assert trials(tiny(inputs, tmp_path))[0].params != trials(first)[0].params


def test_a_worker_with_other_settings_is_refused(twin_studies, inputs: Path) -> None:
    first, _, _ = twin_studies
    with pytest.raises(FreqaiSeqError, match=r"created with other settings .*base_params"):
        tune_study.run(dataclasses.replace(first, epochs=3, n_trials=1))
    assert len(trials(first)) == 4


def test_space_errors_name_the_key(datadir: Path, inputs: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hidden_sise": {"type": "int", "low": 8, "high": 16}}))
    with pytest.raises(FreqaiSeqError, match="hidden_sise"):
        tune_study.print_space(tiny(inputs, tmp_path, space=bad))
    bad.write_text(json.dumps({"dropout": {"type": "uniform", "low": 0, "high": 1}}))
    with pytest.raises(FreqaiSeqError, match="'dropout': type must be one of"):
        tune_study.print_space(tiny(inputs, tmp_path, space=bad))
    with pytest.raises(FreqaiSeqError, match="not a freqai-seq sequence model"):
        tune_study.print_space(tiny(inputs, tmp_path, model="LightGBMRegressor"))


def test_print_space_shows_the_default_space(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--print-space", "--model", "PyTorchCNNLSTMAttentionRegressor"]) == 0
    space = json.loads(capsys.readouterr().out)
    assert space["window"] == {"type": "int", "low": 24, "high": 48, "step": 8}
    assert {"hidden_size", "learning_rate", "conv_channels", "attention_dim"} <= set(space)


@pytest.fixture(scope="module")
def postgresql() -> Iterator[postgres.Server]:
    """A real PostgreSQL server on 127.0.0.1, started and stopped by this module."""
    yield from postgres.start_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite'}"
    return request.getfixturevalue("postgresql").url


def test_two_worker_processes_share_one_study(datadir: Path, inputs: Path, tmp_path: Path,
                                              shared_storage: str) -> None:
    """Two real `freqai-seq tune` processes started together on one SQLite file, and on one
    database of a real PostgreSQL server."""
    storage = shared_storage
    command = [sys.executable, "-m", "freqai_seq.cli", "tune", "--study", "shared",
               "--storage", storage, "--training-params", str(inputs / "params.json"),
               "--space", str(inputs / "space.json"), "--pairs", "BTC/USD", "--windows", "2",
               "--train-days", "10", "--predict-days", "2", "--end", "20190401",
               "--train-epochs", "2", "--n-trials", "2", "--threads", "1", "--out", str(tmp_path)]
    workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "database is locked" not in err, err[-3000:]
        assert '"model_training_parameters"' in out
    done = optuna.load_study(study_name="shared", storage=storage).get_trials()
    per_worker: dict[str, int] = {}
    for t in done:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED), t
        per_worker[t.user_attrs["worker"]] = per_worker.get(t.user_attrs["worker"], 0) + 1
    assert sorted(per_worker.values()) == [2, 2], per_worker
    pids = {w.pid for w in workers}
    assert {int(name.rsplit(":", 1)[1]) for name in per_worker} == pids
    assert len({json.dumps(t.params, sort_keys=True) for t in done}) == 4
    assert json.loads((tmp_path / "shared.best.json").read_text())["freqai"]


def test_a_cross_pair_trial_trains_one_network_per_window_for_all_pairs(
        datadir: Path, inputs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    params = tmp_path / "cross.json"
    params.write_text(json.dumps({**BASE_PARAMS, "cross_pair": True, "pair_embedding_dim": 2}))
    settings = tiny(inputs, tmp_path, study="cross", training_params=params,
                    workspace=Workspace(pairs=("BTC/USD", "ETH/USD")), n_trials=1)
    with caplog.at_level(logging.INFO, logger="freqai_seq.model.cross_pair"):
        report = tune_study.run(settings)
    trained = re.findall(r"training the shared network of the window ending [0-9: -]+ on 2 pairs "
                         r"\(BTC/USD, ETH/USD\)", caplog.text)
    assert len(trained) == settings.windows, caplog.text[-3000:]
    assert caplog.text.count("ETH/USD reuses the shared network") == settings.windows
    assert report.states == {"COMPLETE": 1}
    assert report.objective["base_params"]["cross_pair"] is True
    assert math.isfinite(report.best_value) and report.best["scores"]["rows"] > 0
