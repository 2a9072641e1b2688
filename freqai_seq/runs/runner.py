"""The one runner of freqtrade: every command that starts freqtrade (backtest, lookahead,
hyperopt, plots, the evaluations, the dry-run bot) builds its command line and reads its output
here: the offline market, the run config, the arguments, the verdict."""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freqtrade.configuration import TimeRange
from freqtrade.exceptions import OperationalException

from freqai_seq.data.coverage import START_TOLERANCE
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.market.process import market_running
from freqai_seq.processes import die_with_parent
from freqai_seq.run_fingerprint import check_settings
from freqai_seq.runs.freqtrade_log import (
    BACKTESTED_FROM,
    FAILED_TRAINING,
    REJECTED_ARGUMENTS,
    REJECTED_CONFIG,
)
from freqai_seq.runs.loaders import install_loaders
from freqai_seq.runs.run_config import (
    RunInputs,
    RunRecord,
    RunSpec,
    check_run_inputs,
    clear_leftovers,
    freqai_identifier,
    overlay_file,
    write_overlay,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestRequest:
    configs: list[Path] | None
    strategy: str
    model: str
    timerange: str
    identifier: str | None
    datadir: Path
    userdir: Path
    host: str
    port: int | None  # None: the market started for the run takes a free port
    state_file: Path
    log_file: Path
    training_params: Path | None = None
    extra: list[str] = field(default_factory=list)
    pairs: tuple[str, ...] = ()  # replaces the config's pair_whitelist when given
    # user_data/runs/<identifier><suffix>.json: a run that reuses another run's identifier
    # (plots of a backtest) keeps that run's recorded config intact
    run_config_suffix: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # top-level config keys it sets

    @property
    def run_identifier(self) -> str:
        if self.identifier:
            return self.identifier
        return freqai_identifier(self.model, self.strategy)

    @property
    def spec(self) -> RunSpec:
        """What `check_run_inputs` checks of the run, beyond the config files."""
        return RunSpec(self.strategy, self.model, self.timerange, self.run_identifier,
                       self.training_params, self.pairs, self.userdir,
                       tuple(passthrough(self.extra)), self.settings)


FREQTRADE = ("-m", "freqtrade")  # how the interpreter starts freqtrade's command line


def passthrough(extra: list[str]) -> list[str]:
    """The arguments a command passes on to freqtrade: what follows its `--`."""
    return extra[1:] if extra[:1] == ["--"] else extra


def freqtrade_logfile(logfile: Path | None) -> list[str]:
    """freqtrade's own `--logfile` (its log also goes to our output, which the runner reads)."""
    return ["--logfile", str(logfile)] if logfile else []


def freqtrade_cli(subcommand: list[str], configs: list[Path], strategy: str, model: str,
                  userdir: Path, datadir: Path,
                  launcher: tuple[str, ...] = FREQTRADE) -> list[str]:
    """`python -m freqtrade <subcommand>` with the options every run of a FreqAI strategy
    passes (`subcommand`: e.g. ["backtesting"], ["trade", "--dry-run"])."""
    return [sys.executable, *launcher, *subcommand,
            *[a for c in configs for a in ("-c", str(c))], "--strategy", strategy,
            "--freqaimodel", model, "--userdir", str(userdir), "--datadir", str(datadir)]


def freqtrade_command(request: BacktestRequest, configs: list[Path],
                      subcommand: str = "backtesting",
                      launcher: tuple[str, ...] = FREQTRADE) -> list[str]:
    cmd = [*freqtrade_cli([subcommand], configs, request.strategy, request.model,
                          request.userdir, request.datadir, launcher),
           "--timerange", request.timerange]
    extra = passthrough(request.extra)
    if subcommand == "backtesting" and "--cache" not in extra:
        # freqtrade's result cache keys on config and strategy, not on the FreqAI model's code or
        # its folder: a cached result would skip FreqAI (and the models validate re-runs).
        extra = [*extra, "--cache", "none"]
    return cmd + extra


def check_freqtrade_args(request: BacktestRequest, subcommand: str) -> dict[str, Any]:
    """freqtrade's own parser over the command line a run would start, before anything starts
    (freqtrade prints an argument error, e.g. an unknown option after `--`, and exits 0, which
    would look like a finished run). Returns the parsed arguments."""
    from freqtrade.commands import Arguments

    argv = freqtrade_command(request, list(request.configs or []), subcommand, launcher=())[1:]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(io.StringIO()):
            return Arguments(argv).get_parsed_arg()
    except SystemExit as exc:
        if not exc.code:  # --help or --version: freqtrade prints them itself
            return {}
        lines = printed.getvalue().strip().splitlines() or [f"exit code {exc.code}"]
        reason = lines[-1].split(": error: ", 1)[-1]
        raise FreqaiSeqError(f"freqtrade {subcommand} refuses the arguments after --: {reason} "
                             f"(`freqtrade {subcommand} --help` lists its options).") from None


def passthrough_configs(extra: list[str]) -> list[str]:
    """The config files given to freqtrade after `--` (any spelling freqtrade's `-c` takes)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-c", "--config", action="append", default=[])
    return parser.parse_known_args(passthrough(extra))[0].config


def check_identifier(request: BacktestRequest, inputs: RunInputs) -> None:
    """The run fingerprint of the identifier's folder, before a market or freqtrade starts
    (the pooled networks' pairs and the labels are compared once freqtrade runs), on the config
    freqtrade will merge: the run's, then the files after `--`. A config without a timeframe
    (the strategy's) is left to freqtrade's run."""
    merged = copy.deepcopy(inputs.merged)
    extra = passthrough_configs(request.extra)
    if extra:
        from freqtrade.configuration.load_config import load_from_files
        from freqtrade.misc import deep_merge_dicts

        merged = deep_merge_dicts(load_from_files(extra), merged)
    config = {**merged, "user_data_dir": request.userdir, "freqaimodel": request.model,
              "freqai": {**merged.get("freqai", {}), "identifier": request.run_identifier}}
    if not config.get("timeframe"):
        return
    try:
        check_settings(config, pooled=False)
    except OperationalException as err:
        raise FreqaiSeqError(str(err)) from err


def run_offline(request: BacktestRequest, subcommand: str = "backtesting",
                log_path: Path | None = None,
                launcher: tuple[str, ...] = FREQTRADE,
                columns: int | None = None,
                env: dict[str, str] | None = None) -> tuple[int, int, str]:
    """`freqtrade <subcommand>` against the offline market (the one `market start` runs, else
    one started for this run alone). Input is checked first (FreqaiSeqError: exit 2). Returns 0
    or 1 (freqtrade failed or rejected its input; 130 when interrupted), the number of failed
    FreqAI trainings and the last lines of freqtrade's output (all of it is echoed, and written
    to `log_path` when given). `columns`: the width of freqtrade's virtual terminal (default:
    wide enough for one line per log record); `env`: added to freqtrade's environment."""
    runs = request.userdir / "runs"
    clear_leftovers(runs)  # of killed runs, even when this one is refused
    if not any(request.datadir.glob("*.feather")):
        raise FreqaiSeqError(f"No candle files in {request.datadir}: run `freqai-seq data` "
                             "(or `make data`) first.")
    inputs = check_run_inputs(request.configs, request.spec, subcommand, request.datadir)
    check_freqtrade_args(request, subcommand)
    check_identifier(request, inputs)
    install_loaders(request.userdir)
    name = f"{request.run_identifier}{request.run_config_suffix}"
    with market_running(request.datadir, request.host, request.port, request.state_file,
                        request.log_file) as market:
        overlay = {**inputs.overlay, "exchange": {**inputs.overlay.get("exchange", {}),
                                                  **offline_overlay(market.host,
                                                                    market.port)["exchange"]}}
        overlay_path = write_overlay(overlay, overlay_file(runs, name))
        record = RunRecord.begin(runs / f"{name}.json", inputs.merged)
        cmd = freqtrade_command(request, [*inputs.configs, overlay_path], subcommand, launcher)
        logger.info("Running: %s", " ".join(cmd))
        logger.info("FreqAI identifier %s: models and predictions go to %s",
                    request.run_identifier, request.userdir / "models" / request.run_identifier)
        code = 130
        try:
            code, failed, tail = _run_and_count_failed_trainings(cmd, subcommand, log_path,
                                                                 columns or WIDE_TERMINAL, env)
        finally:
            overlay_path.unlink(missing_ok=True)
            record.finish(code == 0, request.userdir / "models" / request.run_identifier)
        return code, failed, tail


def run_backtest(request: BacktestRequest, log_path: Path | None = None) -> int:
    """Run the backtest; its output also goes to `log_path` when given."""
    code, failed, tail = run_offline(request, "backtesting", log_path)
    if code != 0:
        return code
    moved = start_moved(tail, request.timerange)
    if moved:
        logger.error("%s Exiting non-zero.", moved)
        return 1
    if failed:
        logger.error("%d FreqAI trainings failed and were skipped (their windows got no "
                     "predictions); see the warnings above. Exiting non-zero.", failed)
        return 1
    return 0


def start_moved(output: str, timerange: str | None) -> str | None:
    """Why the backtest did not start at the timerange's start, or None. When the candles before
    the start do not cover the startup freqtrade loads (FreqAI: `train_period_days` plus the
    strategy's startup candles), freqtrade drops that many candles from the first one it has and
    backtests from there, with only a warning that the data starts later."""
    found = BACKTESTED_FROM.search(output)
    start = TimeRange.parse_timerange(timerange).startdt if timerange else None
    if found is None or start is None:
        return None
    began = datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
    if began - start <= START_TOLERANCE:  # a short gap at the start is not a moved start
        return None
    return (f"freqtrade backtested from {began:%Y-%m-%d %H:%M}, not from the timerange's "
            f"start {start:%Y-%m-%d}: the candles before it do not cover "
            "freqai.train_period_days plus the strategy's startup candles. Download earlier "
            "data, start the timerange later or shorten train_period_days.")


OUTPUT_TAIL_LINES = 500  # enough for freqtrade's closing tables
FREQTRADE_STOP_S = 30.0  # after SIGTERM, before SIGKILL: freqtrade's own clean-up
WIDE_TERMINAL = 4000


def _run_and_count_failed_trainings(cmd: list[str], subcommand: str, log_path: Path | None,
                                    columns: int = WIDE_TERMINAL,
                                    env: dict[str, str] | None = None) -> tuple[int, int, str]:
    """Run freqtrade, echoing its output; returns 0 or 1 (freqtrade failed, or rejected its
    config or arguments and exited 0 anyway), the failed trainings (FreqAI logs a failed
    training and carries on, so they are counted here to keep them from looking like a
    successful run) and the output's tail."""
    failed = 0
    rejected = False
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    log = log_path.open("w") if log_path else None
    # Without a terminal freqtrade's rich log handler wraps lines at 80 columns, which would
    # split the messages counted here; a wide virtual terminal keeps each record on one line.
    env = {**os.environ, **(env or {}), "COLUMNS": str(columns)}
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1, env=env, preexec_fn=die_with_parent) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    tail.append(line)
                    if log:
                        log.write(line)
                    failed += bool(FAILED_TRAINING.search(line))
                    rejected = rejected or bool(REJECTED_CONFIG.search(line)
                                                or REJECTED_ARGUMENTS.search(line))
            except BaseException:  # interrupted: freqtrade must not outlive us
                proc.terminate()
                try:  # Popen's own exit would wait a quarter of a second only
                    proc.wait(FREQTRADE_STOP_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                raise
            sys.stdout.flush()
    finally:
        if log:
            log.close()
    if proc.returncode == 130:
        raise KeyboardInterrupt
    if proc.returncode != 0 or rejected:
        logger.error("freqtrade %s %s; its reason is above%s.", subcommand,
                     "rejected its input" if rejected else
                     f"failed with exit code {proc.returncode}",
                     f" and in {log_path}" if log_path else "")
        return 1, failed, "".join(tail)
    return 0, failed, "".join(tail)
