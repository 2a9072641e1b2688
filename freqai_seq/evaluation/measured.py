"""One backtest of an evaluation command (bench, skill, intervals, scale), run and measured:
its request against the market the command runs for all its backtests, its wall time and
freqtrade's own figures from its result file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.runs.freqtrade_log import DONE_TRAINING
from freqai_seq.runs.runner import BacktestRequest, run_backtest
from freqai_seq.runs.walkforward.plan import WorkerPlan
from freqai_seq.runs.walkforward.spread import run_spread
from freqai_seq.runs.workspace import Workspace


def evaluation_request(workspace: Workspace, overlays: list[Path], strategy: str, model: str,
                       timerange: str, identifier: str, port: int, state_file: Path,
                       training_params: Path | None) -> BacktestRequest:
    """A backtest of an evaluation command (bench, skill, intervals, scale) on the workspace's
    configs (then the command's `overlays`), candles, user-data folder and pairs, against the
    market the command runs (`port`, `state_file`) for all its backtests."""
    return BacktestRequest(
        configs=[*workspace.configs, *overlays], strategy=strategy, model=model,
        timerange=timerange, identifier=identifier, datadir=workspace.datadir,
        userdir=workspace.userdir, host=DEFAULT_HOST, port=port, state_file=state_file,
        log_file=state_file.with_name("market.log"), training_params=training_params,
        pairs=workspace.pairs)


@dataclass(frozen=True)
class MeasuredBacktest:
    """A finished backtest as an evaluation reports it: wall time, and freqtrade's own figures
    from its result file."""

    wall_s: float
    trades: int
    profit_pct: float
    drawdown_pct: float
    sharpe: float | None
    training_times: tuple[float, ...]  # seconds of each training FreqAI logged


def run_measured(name: str, request: BacktestRequest, log_path: Path,
                 plan: WorkerPlan | None = None) -> MeasuredBacktest:
    """Run the backtest (its output also to `log_path`), its trainings spread as `plan` says
    when given; a failure is an error naming it."""
    from freqtrade.data.btanalysis import load_backtest_stats

    start = time.perf_counter()
    if plan is None:
        code = run_backtest(request, log_path)
        times = tuple(float(t) for t in DONE_TRAINING.findall(log_path.read_text()))
    else:
        spread = run_spread(request, plan, log_path)
        code, times = spread.code, spread.training_times
    wall = time.perf_counter() - start
    if code != 0:
        raise FreqaiSeqError(f"The {name} backtest failed (exit {code}); see {log_path}.")
    stats = load_backtest_stats(request.userdir / "backtest_results")["strategy"][
        request.strategy]
    return MeasuredBacktest(wall, int(stats["total_trades"]), 100 * float(stats["profit_total"]),
                            100 * float(stats.get("max_drawdown_account") or 0.0),
                            stats.get("sharpe"), times)
