"""`freqai-seq validate` on bad input never shows a traceback: a damaged prediction file is a
problem of that file (exit 1), an unusable export or config is refused (exit 2), and a run of
FreqAI's own LightGBM model is validated without a model analysis that does not apply (exit 0).
All on copies of the real LightGBM walk-forward export of the integration backtests."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backtest_runs import PAIRS, TRAINING_PARAMS
from tests.conftest import BacktestRun, CommandRun, run_cli

pytestmark = pytest.mark.integration

NOT_APPLICABLE = ("Model analysis: not applicable: LightGBMRegressor is not a freqai-seq "
                  "sequence model")


def _lightgbm(backtest: Callable[..., BacktestRun]) -> BacktestRun:
    """The same run as test_backtest_integration's, shared through the session fixture."""
    run = backtest("it-lightgbmregressor", "LightGBMRegressor",
                   TRAINING_PARAMS["LightGBMRegressor"], PAIRS)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    return run


def _config(run: BacktestRun) -> Path:
    return run.userdir / "runs" / f"{run.identifier}.json"


def _validate(cli: CommandRun, models: Path, config: Path,
              out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`freqai-seq validate` through `cli`: run_cli (its own interpreter) or cli_in_process."""
    result = cli("validate", "--models", str(models), "--config", str(config),
                 "--bootstrap", "100", "--out", str(out), *extra)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    return result


def test_lightgbm_run_validates_with_model_analysis_not_applicable(
        backtest: Callable[..., BacktestRun], tmp_path: Path) -> None:
    """Before: exit 1 with one "not a freqai-seq sequence model" problem per model."""
    run = _lightgbm(backtest)
    result = _validate(run_cli, run.models, _config(run), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count(NOT_APPLICABLE) == 1 and "WARNING" not in result.stdout
    report = json.loads((tmp_path / "validation.json").read_text())
    assert report["problems"] == []
    assert report["model_analysis"] == {
        "applicable": False, "reason": "LightGBMRegressor is not a freqai-seq sequence model"}
    assert any(h["scored"] for h in report["forecasts"]["backtest"]["horizons"])
    assert NOT_APPLICABLE in (tmp_path / "validation.html").read_text()


def test_damaged_prediction_files_are_named_and_skipped(
        backtest: Callable[..., BacktestRun], tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    run = _lightgbm(backtest)
    models = tmp_path / run.identifier
    shutil.copytree(run.models, models)
    files = sorted((models / "backtesting_predictions").glob("*_prediction.feather"))
    files[0].write_bytes(b"not a feather file")
    partial = _validate(cli_in_process, models, _config(run), tmp_path / "partial",
                        "--no-models")
    assert partial.returncode == 1  # a part could not run
    assert f"prediction file {files[0]} (ArrowInvalid" in partial.stdout
    report = json.loads((tmp_path / "partial" / "validation.json").read_text())
    assert len(report["problems"]) == 1
    assert report["forecasts"]["backtest"]["pairs_scored"] == sorted(PAIRS)

    for path in files:
        path.write_bytes(b"")
    unusable = _validate(cli_in_process, models, _config(run), tmp_path / "none",
                         "--no-models")
    assert unusable.returncode == 2
    assert f"No usable predictions in {models}: its {len(files)} prediction file(s) are " \
           "unreadable" in unusable.stderr


@pytest.mark.parametrize(("content", "message"), [
    ("{nope", "is not valid JSON"),
    ({"freqai": {"feature_parameters": {"label_period_candles": -5}}},
     "freqai.feature_parameters.label_period_candles in {config} must be a whole number of "
     "candles, at least 1 (got -5)"),
])
def test_a_bad_run_config_is_refused(
        backtest: Callable[..., BacktestRun], tmp_path: Path, content: str | dict, message: str,
        cli_in_process: CommandRun) -> None:
    run = _lightgbm(backtest)
    config = tmp_path / "config.json"
    if isinstance(content, dict):
        recorded = json.loads(_config(run).read_text())
        recorded["freqai"]["feature_parameters"].update(content["freqai"]["feature_parameters"])
        content = json.dumps(recorded)
    config.write_text(content)
    result = _validate(cli_in_process, run.models, config, tmp_path / "out")
    assert result.returncode == 2
    assert message.format(config=config) in result.stderr


def test_validate_merges_several_configs_in_order(
        backtest: Callable[..., BacktestRun], tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    """`-c` repeats as freqtrade's: a later file overrides an earlier one (here with a label
    period that is no candle count, refused naming both files)."""
    run = _lightgbm(backtest)
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps(
        {"freqai": {"feature_parameters": {"label_period_candles": 1.5}}}))
    result = _validate(cli_in_process, run.models, _config(run), tmp_path / "out",
                       "--config", str(overlay))
    assert result.returncode == 2
    assert f"in {_config(run)} + {overlay} must be a whole number of candles" in result.stderr
