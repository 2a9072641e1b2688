"""`freqai-seq plot`: plot-dataframe and plot-profit of a FreqAI backtest, offline."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.process import MarketState
from freqai_seq.runs.plot import find_backtest
from tests.backtest_runs import PAIRS, lstm_run
from tests.conftest import BacktestRun, CommandRun, run_cli


def _result(folder: Path, stamp: str, identifier: str) -> Path:
    path = folder / f"backtest-result-{stamp}.zip"
    config = {"freqai": {"identifier": identifier}, "strategy": "S", "freqaimodel": "M",
              "timerange": "20190801-20190815", "exchange": {"pair_whitelist": ["BTC/USD"]}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"backtest-result-{stamp}.json", "{}")
        archive.writestr(f"backtest-result-{stamp}_config.json", json.dumps(config))
    return path


def test_the_newest_backtest_of_the_identifier_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "backtest_results"
    folder.mkdir()
    _result(folder, "2026-01-01_10-00-00", "a")
    newest = _result(folder, "2026-01-02_10-00-00", "a")
    _result(folder, "2026-01-03_10-00-00", "b")
    (folder / "backtest-result-2026-01-04_10-00-00.zip").write_text("not a zip")
    found = find_backtest(tmp_path, "a")
    assert found.path == newest
    assert (found.strategy, found.model, found.timerange, found.pairs) == (
        "S", "M", "20190801-20190815", ("BTC/USD",))
    with pytest.raises(FreqaiSeqError, match="freqai-seq backtest --identifier c"):
        find_backtest(tmp_path, "c")


def _trace_names(html: str) -> set[str]:
    """Trace names in the plotly JSON of a freqtrade plot file (escapes decoded)."""
    return {json.loads(f'"{name}"') for name in re.findall(r'"name":"((?:[^"\\]|\\.)*)"', html)}


@pytest.mark.integration
def test_plots_of_the_lstm_backtest_show_predictions_thresholds_and_profit(
        backtest: Callable[..., BacktestRun], market: MarketState, market_dir: Path) -> None:
    run = lstm_run(backtest)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    recorded = (run.userdir / "runs" / f"{run.identifier}.json").read_text()
    predictions = run.models / "backtesting_predictions"
    before = {p.name: p.stat().st_mtime_ns for p in predictions.iterdir()}

    result = run_cli("plot", "--identifier", run.identifier, "--userdir", str(run.userdir),
                     "--port", str(market.port), "--state-file", str(market_dir / "market.json"),
                     "--datadir", str(market.datadir))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]

    plots = run.userdir / "plot"
    for pair in PAIRS:
        html = (plots / f"freqtrade-plot-{pair.replace('/', '_')}-1h.html").read_text()
        names = _trace_names(html)
        assert {"&-ret_12", "entry_threshold", "exit_threshold", "do_predict"} <= names, names
        assert {"Price", "Trade entry"} <= names  # the backtest's trades are drawn
    names = _trace_names((plots / "freqtrade-profit-plot.html").read_text())
    assert {"Profit", *(f"Profit {pair}" for pair in PAIRS)} <= names, names
    assert "Plots of backtest backtest-result-" in result.stdout
    # the backtest's predictions were reused, nothing retrained, its recorded config intact
    assert {p.name: p.stat().st_mtime_ns for p in predictions.iterdir()} == before
    assert (run.userdir / "runs" / f"{run.identifier}.json").read_text() == recorded


@pytest.mark.integration
def test_plot_without_a_backtest_is_a_clear_error(tmp_path: Path,
                                                 cli_in_process: CommandRun) -> None:
    result = cli_in_process("plot", "--identifier", "nothing-here", "--userdir", str(tmp_path))
    assert result.returncode == 2
    assert "No backtest result of the FreqAI identifier nothing-here" in result.stderr
