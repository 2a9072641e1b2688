"""Experiment tracking: FreqAI's tensorboard logging end to end, and the optional MLflow record
of each training (`freqai.mlflow`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from freqtrade.exceptions import OperationalException

from freqai_seq.freqaimodels import PyTorchLSTMRegressor
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.model.tracking import default_tracking_uri
from tests.backtest_runs import PAIRS, lstm_run
from tests.conftest import BacktestRun, CommandRun
from tests.seqkit import make_config, predict, synthetic_frame, train


@pytest.mark.integration
def test_freqai_backtest_writes_tensorboard_events_of_every_training(
        backtest: Callable[..., BacktestRun]) -> None:
    """A real freqtrade backtest (FreqAI's `activate_tensorboard` defaults to true): FreqAI
    creates the logger in each model folder and our trainer writes to it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = lstm_run(backtest)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    folders = sorted(run.models.glob("sub-train-*"))
    assert len(folders) == len(PAIRS) * 2
    for folder in folders:
        assert list((folder / "tensorboard").glob("events.out.tfevents.*")), folder
        events = EventAccumulator(str(folder / "tensorboard"))
        events.Reload()
        tags = ("train_loss", "validation_loss", "learning_rate", "grad_norm",
                "val_train_loss_ratio")
        assert set(tags) <= set(events.Tags()["scalars"])
        for tag in tags:
            scalars = events.Scalars(tag)
            assert [s.step for s in scalars] == [1, 2]  # one point per epoch (2 epochs)
            assert all(np.isfinite(s.value) for s in scalars)
        assert all(s.value > 0 for s in events.Scalars("grad_norm"))
        ratio = [s.value for s in events.Scalars("val_train_loss_ratio")]
        val, train = (events.Scalars(t) for t in ("validation_loss", "train_loss"))
        assert ratio == pytest.approx([v.value / t.value for v, t in zip(val, train,
                                                                         strict=True)])


@pytest.mark.integration
def test_training_plot_draws_every_saved_training_of_an_identifier(
        backtest: Callable[..., BacktestRun], tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    """`training-plot` reads the saved trainings and starts nothing: in the test's process."""
    run = lstm_run(backtest)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    out = tmp_path / "training.html"
    drawn = cli_in_process("training-plot", "--identifier", run.identifier, "--userdir",
                           str(run.userdir), "--out", str(out))
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    trainings = len(PAIRS) * 2
    assert drawn.stdout.startswith(f"{trainings} trainings, ")
    assert "final validation/train loss ratio median" in drawn.stdout
    page = out.read_text()
    for title in ("train loss", "validation loss", "learning rate",
                  "gradient norm (before clipping)", "validation loss over train loss"):
        assert title in page
    # one line per training and quantity, each named by its coin and window end
    coin = PAIRS[0].split("/")[0]
    assert page.count(f'"legendgroup":"{coin} 2019-08-') == 2 * 5
    one = cli_in_process("training-plot", "--identifier", run.identifier, "--userdir",
                         str(run.userdir), "--out", str(tmp_path / "one.html"), "-p", PAIRS[0])
    assert one.stdout.startswith("2 trainings, "), one.stdout + one.stderr[-2000:]
    missing = cli_in_process("training-plot", "--identifier", "no-such-run", "--userdir",
                             str(run.userdir))
    assert missing.returncode == 2 and "No models folder" in missing.stderr


def test_mlflow_records_params_metric_history_and_the_model(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    frame = synthetic_frame(400, seed=2)
    config = make_config(tmp_path, epochs=3, early_stopping_patience=0)
    config["freqai"]["mlflow"] = True  # the local store in <user_data>/mlruns
    regressor, dk = train(PyTorchLSTMRegressor, config, frame)
    client = MlflowClient(default_tracking_uri(tmp_path))
    experiment = client.get_experiment_by_name("unit")  # the FreqAI identifier
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    params = run.data.params
    assert params["pair"] == "BTC/USD" and params["model"] == "PyTorchLSTMRegressor"
    assert params["window"] == "8" and params["epochs"] == "3"
    assert params["timerange"] == "2021-01-01T05:00..2021-01-17T15:00"  # rows with a label
    result = regressor.model.train_result
    for key, name in (("train_loss", "train_loss"), ("val_loss", "val_loss"), ("lr", "lr"),
                      ("grad_norm", "grad_norm"), ("loss_ratio", "loss_ratio")):
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [1, 2, 3]
        assert [m.value for m in history] == pytest.approx([r[key] for r in result.history])
    assert run.data.metrics["best_epoch"] == result.best_epoch
    assert run.data.metrics["best_val_loss"] == pytest.approx(result.best_val_loss)
    assert run.info.status == "FINISHED"
    artefacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert artefacts == ["model.zip"]
    original, _ = predict(regressor, dk, frame)
    path = client.download_artifacts(run.info.run_id, "model.zip", str(tmp_path))
    regressor.model = SequenceModel.load(Path(path))
    again, _ = predict(regressor, dk, frame)
    np.testing.assert_array_equal(again, original)


def test_mlflow_tracking_uri_and_experiment_options(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'elsewhere' / 'runs.db'}"
    artefacts = (tmp_path / "artefacts").as_uri()
    config = make_config(tmp_path / "ud", epochs=1)
    config["freqai"]["mlflow"] = {"tracking_uri": uri, "experiment": "mine",
                                  "artifact_location": artefacts}
    train(PyTorchLSTMRegressor, config, synthetic_frame(300, seed=3))
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mine").experiment_id])
    assert len(runs) == 1 and runs[0].info.artifact_uri.startswith(artefacts)
    assert list((tmp_path / "artefacts").rglob("model.zip"))
    assert not (tmp_path / "ud" / "mlruns").exists()


def test_mlflow_off_by_default_and_bad_flags_are_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path, epochs=1)
    train(PyTorchLSTMRegressor, config, synthetic_frame(300, seed=4))
    assert not (tmp_path / "mlruns").exists()
    for flag, message in (("yes", "freqai.mlflow must be true, false or an object"),
                          ({"uri": "x"}, r"Unknown freqai.mlflow keys \['uri'\]")):
        config["freqai"]["mlflow"] = flag
        with pytest.raises(OperationalException, match=message):
            PyTorchLSTMRegressor(config=config)
