"""Optional MLflow record of every training, behind one config flag: `freqai.mlflow`.

    "freqai": {"mlflow": true}                          # local store in user_data/mlruns
    "freqai": {"mlflow": {"tracking_uri": "http://host:5000",  # any MLflow tracking URI
                          "experiment": "my-experiment",       # default: the identifier
                          "artifact_location": "s3://bucket/path"}}  # for a new experiment

Each training becomes one MLflow run named `<pair> <first>..<last training candle>`: params
are the `model_training_parameters` as configured plus the model class, pair, timerange and
identifier; metrics are `train_loss`, `val_loss` and `lr` per epoch (step = epoch) and
`best_epoch`, `best_val_loss`, `epochs_run`, `train_seconds`; the artefact is the model file as
FreqAI saves it (the model's own `save()`). A thin layer over MLflow's fluent API; a tracking
failure is logged and never costs the trained model.

The local store is MLflow's SQLite backend (`user_data/mlruns/mlflow.db`, artefacts in
`user_data/mlruns/artifacts`): MLflow 3 refuses its old file store unless told otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqai_seq.errors import FreqaiSeqError

logger = logging.getLogger(__name__)

OPTIONS = ("tracking_uri", "experiment", "artifact_location")


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str
    experiment: str
    artifact_location: str | None = None  # where a new experiment keeps artefacts


def local_store(user_data_dir: Path) -> tuple[str, str]:
    """(tracking URI, artefact location) of the local store in `<user_data>/mlruns`."""
    folder = (Path(user_data_dir) / "mlruns").resolve()
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def default_tracking_uri(user_data_dir: Path) -> str:
    return local_store(user_data_dir)[0]


def mlflow_settings(freqai: dict[str, Any], user_data_dir: Path) -> MlflowSettings | None:
    """`freqai.mlflow` read and checked once; None when tracking is off."""
    value = freqai.get("mlflow", False)
    if value is False or value is None:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise FreqaiSeqError(f"freqai.mlflow must be true, false or an object with "
                             f"{' / '.join(OPTIONS)}, got {value!r}.")
    unknown = sorted(set(value) - set(OPTIONS))
    if unknown:
        raise FreqaiSeqError(f"Unknown freqai.mlflow keys {unknown}; known: {', '.join(OPTIONS)}.")
    if importlib.util.find_spec("mlflow") is None:
        raise FreqaiSeqError("freqai.mlflow is on but MLflow is not installed: "
                             "pip install -e '.[tracking]' (or pip install mlflow-skinny).")
    experiment = str(value.get("experiment") or freqai.get("identifier") or "freqai-seq")
    if value.get("tracking_uri"):
        return MlflowSettings(str(value["tracking_uri"]), experiment,
                              value.get("artifact_location"))
    uri, artefacts = local_store(user_data_dir)
    return MlflowSettings(uri, experiment, value.get("artifact_location") or artefacts)


def _use_experiment(settings: MlflowSettings) -> None:
    import mlflow

    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    if mlflow.get_experiment_by_name(settings.experiment) is None:
        # Another training may create it meanwhile: then set_experiment finds it.
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            mlflow.create_experiment(settings.experiment,
                                     artifact_location=settings.artifact_location)
    mlflow.set_experiment(settings.experiment)


def _stamp(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%dT%H:%M")


def log_training(settings: MlflowSettings, regressor: Any, model: Any, pair: str, dk: Any,
                 row_dates_ns: np.ndarray, seconds: float) -> str | None:
    """One MLflow run for one finished training of `regressor` (a SequenceRegressor) with its
    data kitchen `dk`; returns the run id (None when logging failed)."""
    import mlflow

    params = dict(regressor.model_training_parameters)
    artefact = f"{dk.model_filename}_model.zip" if dk.model_filename else "model.zip"
    timerange = f"{_stamp(row_dates_ns[0])}..{_stamp(row_dates_ns[-1])}"
    result = model.train_result
    try:
        _use_experiment(settings)
        with mlflow.start_run(run_name=f"{pair} {timerange}") as run:
            mlflow.log_params({**params, "model": type(regressor).__name__, "pair": pair,
                               "timerange": timerange, "identifier": regressor.identifier})
            for row in result.history:
                mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"},
                                   step=int(row["epoch"]))
            summary = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                       "train_seconds": seconds}
            if result.best_val_loss is not None:
                summary["best_val_loss"] = result.best_val_loss
            mlflow.log_metrics(summary)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / artefact
                model.save(path)
                mlflow.log_artifact(str(path))
            logger.info("%s: training logged to MLflow run %s (experiment %r, %s)", pair,
                        run.info.run_id, settings.experiment, settings.tracking_uri)
            return run.info.run_id
    except Exception as exc:  # a tracking server down must not cost the trained model
        logger.error("%s: could not log the training to MLflow (%s): %s: %s", pair,
                     settings.tracking_uri, type(exc).__name__, exc)
        return None
