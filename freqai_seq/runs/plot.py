"""`freqai-seq plot`: freqtrade's `plot-dataframe` and `plot-profit` of a FreqAI backtest, offline.

`plot-dataframe` analyses the candles with the strategy, so with FreqAI it runs FreqAI's backtest
path (run mode "plot"): for each walk-forward window it loads the identifier's saved prediction
file when one matches the window, and otherwise trains a new model, on the few candles the plot
loads (the strategy's startup candles, not `train_period_days`) and into the backtest's own
models folder. So the plots reuse a backtest: the newest result in
`<userdir>/backtest_results/` whose stored config has the identifier gives the config, strategy,
model, timerange and pairs, its predictions are plotted and its trades are drawn (plot-profit
reads the same result file). A training during the plot means the predictions did not match
the backtest's and is an error.

Plots go to `<userdir>/plot/`: `freqtrade-plot-<PAIR>-<timeframe>.html` with the strategy's
`plot_config` (prediction, entry and exit thresholds, do_predict) and
`freqtrade-profit-plot.html`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs.freqtrade_log import DONE_TRAINING
from freqai_seq.runs.runner import (
    BacktestRequest,
    freqtrade_logfile,
    passthrough,
    run_offline,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestResult:
    """One freqtrade backtest result (zip) and the config freqtrade stored in it."""

    path: Path
    config: dict[str, Any]

    @property
    def strategy(self) -> str:
        return str(self.config["strategy"])

    @property
    def model(self) -> str:
        return str(self.config["freqaimodel"])

    @property
    def timerange(self) -> str:
        return str(self.config["timerange"])

    @property
    def pairs(self) -> tuple[str, ...]:
        return tuple(self.config["exchange"]["pair_whitelist"])


def stored_config(path: Path) -> dict[str, Any] | None:
    """The `*_config.json` freqtrade keeps inside a backtest result zip, None if unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("_config.json")]
            return json.loads(archive.read(names[0])) if names else None
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def find_backtest(userdir: Path, identifier: str) -> BacktestResult:
    """The newest backtest result of the FreqAI identifier (names sort by time)."""
    folder = userdir / "backtest_results"
    for path in sorted(folder.glob("backtest-result-*.zip"), reverse=True):
        config = stored_config(path)
        if config and config.get("freqai", {}).get("identifier") == identifier and all(
                k in config for k in ("strategy", "freqaimodel", "timerange")):
            return BacktestResult(path, config)
    raise FreqaiSeqError(f"No backtest result of the FreqAI identifier {identifier} in {folder}: "
                         f"run `freqai-seq backtest --identifier {identifier}` (or `make "
                         "backtest`) first; the plots reuse its predictions and trades.")


@dataclass(frozen=True)
class PlotRequest:
    identifier: str
    userdir: Path
    datadir: Path
    host: str
    port: int | None
    state_file: Path
    log_file: Path
    pairs: tuple[str, ...] = ()  # default: the backtest's pairs
    extra: list[str] = field(default_factory=list)  # to plot-dataframe
    logfile: Path | None = None  # freqtrade's --logfile, of both commands


def plot_files(userdir: Path, pairs: tuple[str, ...], timeframe: str) -> list[Path]:
    from freqtrade.misc import pair_to_filename

    folder = userdir / "plot"
    return [folder / f"freqtrade-plot-{pair_to_filename(p)}-{timeframe}.html" for p in pairs] + [
        folder / "freqtrade-profit-plot.html"]


def run_plots(request: PlotRequest) -> int:
    """plot-dataframe, then plot-profit, of the identifier's newest backtest; 0 on success."""
    result = find_backtest(request.userdir, request.identifier)
    predictions = request.userdir / "models" / request.identifier / "backtesting_predictions"
    if not any(predictions.glob("*.feather")):
        raise FreqaiSeqError(f"No prediction files in {predictions}: the plot would train new "
                             f"models. Run `freqai-seq backtest --identifier {request.identifier}"
                             f" --timerange {result.timerange}` first.")
    pairs = request.pairs or result.pairs
    missing = sorted(set(pairs) - set(result.pairs))
    if missing:
        raise FreqaiSeqError(f"{', '.join(missing)} not in the backtest {result.path.name} "
                             f"(pairs {', '.join(result.pairs)}).")
    logger.info("Plotting backtest %s (%s, %s, %s, %s)", result.path.name, result.strategy,
                result.model, result.timerange, " ".join(pairs))
    extra = passthrough(request.extra)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "backtest-config.json"
        config.write_text(json.dumps({k: v for k, v in result.config.items()
                                      if k != "config_files"}))
        base = BacktestRequest(
            configs=[config], strategy=result.strategy, model=result.model,
            timerange=result.timerange, identifier=request.identifier,
            datadir=request.datadir, userdir=request.userdir, host=request.host,
            port=request.port, state_file=request.state_file, log_file=request.log_file,
            pairs=tuple(pairs), run_config_suffix=".plot")
        source = ["--backtest-filename", str(result.path), *freqtrade_logfile(request.logfile)]
        for subcommand, args in (("plot-dataframe", [*source, *extra]),
                                 ("plot-profit", source)):
            log_path = request.userdir / "runs" / f"{request.identifier}.{subcommand}.log"
            code, failed, _ = run_offline(replace(base, extra=args), subcommand, log_path)
            if code != 0:
                return code
            trained = len(DONE_TRAINING.findall(log_path.read_text()))
            if trained or failed:
                logger.error("FreqAI trained %d model(s) during %s: the backtest's predictions "
                             "did not cover the plot, so the plot would not show them.",
                             trained + failed, subcommand)
                return 1
    files = plot_files(request.userdir, tuple(pairs), str(result.config.get("timeframe", "")))
    absent = [f for f in files if not f.exists() or f.stat().st_mtime < started - 1]
    if absent:
        logger.error("freqtrade did not write %s", ", ".join(map(str, absent)))
        return 1
    print(f"\nPlots of backtest {result.path.name} ({result.strategy}, {result.model}, "
          f"{result.timerange}, identifier {request.identifier}):")
    for path in files:
        print(f"  {path}  ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
