"""What a newcomer gets wrong first is refused before anything trains: a timerange the candles do
not cover (by `freqai-seq` before freqtrade starts, exit 2, and by the plugin's model classes
under plain freqtrade) and a misspelt model or strategy (with the closest names)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from freqtrade.configuration import TimeRange
from freqtrade.exceptions import OperationalException

from freqai_seq.cli.main import main
from freqai_seq.data.coverage import check_timerange_covered
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.market.process import MarketState
from freqai_seq.model.window_coverage import check_windows_have_candles
from freqai_seq.runs.class_names import check_class_names
from freqai_seq.runs.loaders import install
from freqai_seq.runs.run_config import RunSpec, check_run_inputs
from tests.conftest import AS_A_USER, ROOT

DATA_RANGE = "run from 2017-10-01 00:00 to 2019-09-30 23:00"  # the bundled 1h candles
FREQAI = {"train_period_days": 180, "backtest_period_days": 7}  # config.json's


def _refused(caplog: pytest.LogCaptureFixture, tmp_path: Path, *args: str) -> str:
    """The one error line of a `freqai-seq backtest` that exits 2 before a market starts."""
    state = tmp_path / "market.json"
    code = main(["backtest", "-p", "BTC/USD", "--userdir", str(tmp_path / "user_data"),
                 "--state-file", str(state), *args])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 2 and len(errors) == 1, errors
    assert not state.exists() and "Running:" not in caplog.text
    return errors[0]


@pytest.mark.parametrize(("timerange", "why"), [
    ("20300101-20300201", "backtest window from 2030-01-29 00:00 to 2030-02-01 00:00 would hold "
                          "no candle; end the timerange on 20190930 or earlier and start it"),
    ("20191101-20191201", "end the timerange on 20190930 or earlier and start it before that"),
    ("20190915-20191015", "window from 2019-10-13 00:00 to 2019-10-15 00:00 would hold no "
                          "candle; end the timerange on 20190930 or earlier."),
    ("20170101-20170301", "start the timerange on 20180330 or later"),
    ("20171001-20171201", "the 180 days (freqai.train_period_days) before the start, from "
                          "2017-04-04; start the timerange on 20180330 or later"),
])
def test_a_timerange_the_candles_do_not_cover_exits_2_naming_their_range(
        timerange: str, why: str, datadir: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    error = _refused(caplog, tmp_path, "--timerange", timerange)
    assert f"--timerange {timerange} is not covered: the 1h candles of BTC/USD" in error
    assert DATA_RANGE in error and why in error


@pytest.mark.parametrize("timerange", ["20180330-20180415", "20190901-20190930",
                                       "20190923-20190930"])
def test_the_advised_and_the_edge_timeranges_pass(timerange: str, datadir: Path) -> None:
    check_timerange_covered(datadir, ["BTC/USD"], "1h", timerange, FREQAI)


def test_the_last_window_must_reach_the_candles(datadir: Path) -> None:
    """FreqAI's backtest windows are 7 days from the start: 20190924-20191001 is one window,
    with candles; a day more opens a second one, from 2019-10-01, which has none."""
    check_timerange_covered(datadir, ["BTC/USD"], "1h", "20190924-20191001", FREQAI)
    with pytest.raises(FreqaiSeqError, match="from 2019-10-01 00:00 to 2019-10-02 00:00"):
        check_timerange_covered(datadir, ["BTC/USD"], "1h", "20190924-20191002", FREQAI)


def test_without_a_timeframe_in_the_config_the_model_classes_check(datadir: Path,
                                                                   tmp_path: Path) -> None:
    """A strategy may set the timeframe itself: only freqtrade knows it then (no KeyError)."""
    config = json.loads((ROOT / "config.json").read_text())
    del config["timeframe"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    check_run_inputs([tmp_path / "config.json"], RunSpec(
        "FreqaiSeqStrategy", "PyTorchLSTMRegressor", "20300101-20300201", "x"), "backtesting",
        datadir)


def test_the_model_classes_refuse_a_window_without_candles() -> None:
    """Under plain freqtrade the model class is the only check (see the real run below)."""
    dates = pd.Series(pd.date_range("2019-05-01", "2019-09-30 23:00", freq="1h", tz="UTC"))
    windows = [TimeRange.parse_timerange(t) for t in ("20190501-20190901", "20190601-20190908")]
    check_windows_have_candles(dates, "BTC/USD", windows[:1], windows[1:])
    with pytest.raises(OperationalException, match=(
            r"backtest window 2019-10-01 00:00 to 2019-10-08 00:00 holds no candle of BTC/USD "
            r"\(the candles freqtrade loaded for it run from 2019-05-01 00:00 to 2019-09-30 "
            r"23:00\)")):
        check_windows_have_candles(dates, "BTC/USD", windows[:1],
                                   [TimeRange.parse_timerange("20191001-20191008")])
    with pytest.raises(OperationalException, match="training window 2019-04-01 00:00 to "
                                                   "2019-05-01 00:00 holds no candle"):
        check_windows_have_candles(dates, "BTC/USD",
                                   [TimeRange.parse_timerange("20190401-20190501")], windows[1:])


@pytest.mark.integration
def test_plain_freqtrade_past_the_data_stops_before_training_with_one_line(
        market: MarketState, tmp_path: Path) -> None:
    """Was: a training per pair, then `Found array with 0 sample(s) ... MinMaxScaler`."""
    userdir = tmp_path / "user_data"
    install(userdir)
    overlay = tmp_path / "overlay.json"
    exchange = offline_overlay(market.host, market.port)["exchange"]
    overlay.write_text(json.dumps({"exchange": {**exchange, "pair_whitelist": ["BTC/USD"]}}))
    result = subprocess.run(
        [sys.executable, "-m", "freqtrade", "backtesting", "-c", str(ROOT / "config.json"),
         "-c", str(overlay), "--userdir", str(userdir), "--datadir", market.datadir,
         "--strategy", "FreqaiSeqStrategy", "--freqaimodel", "PyTorchLSTMRegressor",
         "--timerange", "20191101-20191201"],
        cwd=tmp_path, capture_output=True, text=True, env={**AS_A_USER, "COLUMNS": "4000"},
        timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert ("FreqAI's backtest window 2019-11-01 00:00 to 2019-11-08 00:00 holds no candle of "
            "BTC/USD (the candles freqtrade loaded for it run from") in output
    assert "Traceback" not in output and "Starting training" not in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("command", "option", "wrong", "meant"), [
    (["backtest"], "--freqaimodel", "PyTorchLSTMRegresor", "PyTorchLSTMRegressor"),
    (["hyperopt"], "--model", "LightGBMRegresor", "LightGBMRegressor"),  # FreqAI's own
    (["lookahead"], "--strategy", "FreqaiSeqStrategyy", "FreqaiSeqStrategy"),
    (["dryrun", "start"], "--strategy", "FreqaiSeqIntervalStrat", "FreqaiSeqIntervalStrategy"),
])
def test_a_misspelt_class_exits_2_naming_the_closest(
        command: list[str], option: str, wrong: str, meant: str, datadir: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    port = ["--api-port", str(_free_port())] if command[0] == "dryrun" else []
    code = main([*command, option, wrong, "--userdir", str(tmp_path / "user_data"), *port])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith(f"--{'freqaimodel' if option != '--strategy' else 'strategy'} "
                                f"{wrong}: no ")
    assert f"did you mean {meant}" in errors[0]
    assert not (tmp_path / "user_data" / "dryrun" / "bot.json").exists()


def test_the_users_own_folders_are_searched(tmp_path: Path) -> None:
    userdir = tmp_path / "user_data"
    (userdir / "strategies").mkdir(parents=True)
    (userdir / "strategies" / "mine.py").write_text("class MyOwnStrategy(IStrategy):\n    pass\n")
    elsewhere = tmp_path / "models"
    elsewhere.mkdir()
    (elsewhere / "net.py").write_text("class MyNetRegressor(BaseRegressionModel):\n    pass\n")
    check_class_names("MyNetRegressor", "MyOwnStrategy", userdir, {},
                      ["--freqaimodel-path", str(elsewhere)])
    check_class_names("MyNetRegressor", "MyOwnStrategy", userdir,
                      {"freqaimodel_path": str(elsewhere)}, [])
    with pytest.raises(FreqaiSeqError, match="did you mean MyOwnStrategy"):
        check_class_names("PyTorchGRURegressor", "MyOwnStrategi", userdir, {}, [])
    with pytest.raises(FreqaiSeqError, match="--freqaimodel MyNetRegressor: no FreqAI model"):
        check_class_names("MyNetRegressor", "MyOwnStrategy", userdir, {}, [])
