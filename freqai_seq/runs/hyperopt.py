"""`freqai-seq hyperopt`: freqtrade's hyperopt of a FreqAI strategy, offline.

How freqtrade runs hyperopt with FreqAI (freqtrade/optimize/hyperopt/): while preparing the data,
hyperopt runs the strategy's `populate_indicators` once over the whole timerange, and FreqAI
trains its walk-forward models there exactly as in a backtest (or reuses the prediction files of
the identifier). The analysed dataframes are pickled, and every epoch only re-runs
`populate_entry_trend` / `populate_exit_trend` on them with that epoch's parameters and
backtests the signals. So only what acts after the predictions can be optimised: the entry and
exit thresholds (buy / sell spaces), roi, stoploss, trailing, protection and max open trades;
never model, feature or target settings (`--analyze-per-epoch` is refused with FreqAI).

The run gets a dedicated identifier (`hyperopt-<model>-<strategy>`), so its models and
predictions never mix with a backtest's; a second hyperopt of the same identifier reuses them
without training. freqtrade's own exit code and FreqAI's failed trainings are checked as for a
backtest, and a training that happens after the epochs began is an error: the predictions must
be computed once.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs.freqtrade_log import (
    DONE_TRAINING,
    HYPEROPT_EPOCHS_START,
    HYPEROPT_RESULTS_FILE,
)
from freqai_seq.runs.run_config import freqai_identifier
from freqai_seq.runs.runner import BacktestRequest, passthrough, run_offline

logger = logging.getLogger(__name__)

# The three months before the default backtest (June to August 2019): thresholds chosen here
# are then judged out of sample by `make backtest`.
DEFAULT_TIMERANGE = "20190301-20190601"
DEFAULT_SPACES = ("buy", "sell", "roi", "stoploss")
# Daily Sharpe ratio of the summed trade profits, days without trades counting as 0, after
# 0.05 % slippage per trade: risk-adjusted, finite, and it does not reward a handful of lucky
# trades or churning (docs: Hyperopt).
DEFAULT_LOSS = "SharpeHyperOptLossDaily"
DEFAULT_EPOCHS = 100
DEFAULT_RANDOM_STATE = 42
DEFAULT_MIN_TRADES = 20
# Spaces that act on the signals after FreqAI has predicted ("default" is buy, sell, roi and
# stoploss, plus max open trades). "all" would also take any custom space a strategy declares,
# and a custom space's parameters (features, targets) would silently keep their default value.
OPTIMISABLE_SPACES = ("default", "buy", "sell", "roi", "stoploss", "trailing", "protection",
                      "trades")

# freqtrade's results table and progress bar fill the virtual terminal: 200 columns hold the
# table (a wider one would pad each line with spaces); the lines counted here start a log record.
COLUMNS = 200


@dataclass(frozen=True)
class HyperoptRequest:
    """A hyperopt run: the offline freqtrade run (`backtest`, whose identifier defaults to
    `hyperopt-<model>-<strategy>`) plus hyperopt's own settings."""

    backtest: BacktestRequest
    epochs: int = DEFAULT_EPOCHS
    spaces: tuple[str, ...] = DEFAULT_SPACES
    loss: str = DEFAULT_LOSS
    jobs: int = -1  # one epoch worker per CPU core, freqtrade's default
    random_state: int = DEFAULT_RANDOM_STATE
    min_trades: int = DEFAULT_MIN_TRADES
    export_params: bool = False  # let freqtrade write strategies/<Strategy>.json

    def validated(self) -> HyperoptRequest:
        """The request with its identifier and freqtrade's `disableparamexport` set (in the
        run's overlay: the config may set it either way); errors name what is wrong."""
        unknown = [s for s in self.spaces if s not in OPTIMISABLE_SPACES]
        if unknown:
            raise FreqaiSeqError(
                f"Cannot hyperopt the space(s) {', '.join(unknown)} with FreqAI: hyperopt "
                "computes the predictions once and re-runs only the entry and exit signals per "
                f"epoch. Use {', '.join(OPTIMISABLE_SPACES)}.")
        if self.epochs < 1:
            raise FreqaiSeqError(f"--epochs must be at least 1 (got {self.epochs}).")
        if self.random_state < 1:
            # freqtrade replaces a random state of 0 with a random one
            raise FreqaiSeqError(f"--random-state must be at least 1 (got {self.random_state}).")
        backtest = replace(self.backtest, settings={
            **self.backtest.settings, "disableparamexport": not self.export_params})
        if backtest.identifier is None:
            backtest = replace(backtest, identifier=default_identifier(backtest.model,
                                                                       backtest.strategy))
        return replace(self, backtest=backtest)

    def freqtrade_args(self) -> list[str]:
        return ["--epochs", str(self.epochs), "--spaces", *self.spaces,
                "--hyperopt-loss", self.loss, "-j", str(self.jobs),
                "--random-state", str(self.random_state), "--min-trades", str(self.min_trades),
                *passthrough(self.backtest.extra)]


def default_identifier(model: str, strategy: str) -> str:
    return freqai_identifier("hyperopt", model, strategy)


# ------------------------------------------------------------------ what the run left behind
@dataclass(frozen=True)
class Trainings:
    """FreqAI trainings in freqtrade's output, before and after the epochs began."""

    before_epochs: int
    during_epochs: int


def count_trainings(output: str) -> Trainings:
    before = during = 0
    epochs_started = False
    for line in output.splitlines():
        if HYPEROPT_EPOCHS_START.search(line):
            epochs_started = True
        elif DONE_TRAINING.search(line):
            if epochs_started:
                during += 1
            else:
                before += 1
    return Trainings(before, during)


def read_results(path: Path) -> list[dict[str, Any]]:
    """The epochs of a `.fthypt` file (one JSON object per line, NaN allowed)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise FreqaiSeqError(f"Cannot read hyperopt results {path}: {exc}") from exc
    return [json.loads(line) for line in lines if line.strip()]


def results_file(output: str, userdir: Path) -> Path | None:
    """The results file freqtrade names at the end of its run (else its latest one)."""
    found = HYPEROPT_RESULTS_FILE.findall(output)
    if found:
        return Path(found[-1])
    latest = userdir / "hyperopt_results" / ".last_result.json"
    try:
        return latest.parent / json.loads(latest.read_text())["latest_hyperopt"]
    except (OSError, ValueError, KeyError):
        return None


def best_epoch(epochs: list[dict[str, Any]]) -> dict[str, Any] | None:
    finite = [e for e in epochs if isinstance(e.get("loss"), (int, float))
              and math.isfinite(e["loss"])]
    return min(finite, key=lambda e: e["loss"]) if finite else None


def summary(request: HyperoptRequest, trainings: Trainings, path: Path,
            epochs: list[dict[str, Any]]) -> str:
    backtest = request.backtest
    lines = [f"Hyperopt of {backtest.strategy} with {backtest.model}, {backtest.timerange}, "
             f"loss {request.loss}, spaces {' '.join(request.spaces)}:",
             f"  FreqAI trainings: {trainings.before_epochs}, all before the first epoch "
             f"(identifier {backtest.run_identifier}; 0 means its saved predictions were "
             "reused)",
             f"  {len(epochs)} epochs in {path}"]
    best = best_epoch(epochs)
    if best is not None:
        metrics = best.get("results_metrics", {})
        lines.append(f"  best: epoch {best.get('current_epoch')}, loss {best['loss']:.5f}, "
                     f"{metrics.get('total_trades')} trades, profit "
                     f"{100 * float(metrics.get('profit_total', 0.0)):.2f} %")
        for space, values in best.get("params_details", {}).items():
            lines.append(f"    {space}: {json.dumps(values)}")
    if not request.export_params:
        lines.append(f"  Not exported (--export-params writes strategies/{backtest.strategy}"
                     ".json, which freqtrade then loads in every run of the strategy); "
                     f"`freqtrade hyperopt-show --best --hyperopt-filename {path.name} "
                     f"--userdir {backtest.userdir}` shows it again.")
    return "\n".join(lines)


# ------------------------------------------------------------------ the command
def run_hyperopt(request: HyperoptRequest) -> int:
    """Run freqtrade's hyperopt offline; 0 on success."""
    request = request.validated()
    backtest = replace(request.backtest, extra=request.freqtrade_args())
    log_path = backtest.userdir / "runs" / f"{backtest.run_identifier}.hyperopt.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    code, failed, tail = run_offline(backtest, "hyperopt", log_path, columns=COLUMNS)
    if code != 0:
        return code
    if failed:
        logger.error("%d FreqAI trainings failed and were skipped: the epochs traded on "
                     "incomplete predictions. Exiting non-zero.", failed)
        return 1
    trainings = count_trainings(log_path.read_text())
    if trainings.during_epochs:
        logger.error("FreqAI trained %d models after the epochs began: the predictions were "
                     "not computed once.", trainings.during_epochs)
        return 1
    path = results_file(tail, backtest.userdir)
    if path is None or not path.exists():
        logger.error("freqtrade wrote no hyperopt results file (log: %s)", log_path)
        return 1
    epochs = read_results(path)
    print("\n" + summary(request, trainings, path, epochs))
    if not epochs:
        logger.error("No epoch was evaluated.")
        return 1
    return 0
