"""One module per `freqai-seq` command. Each names the command (NAME), says what it does (HELP,
optionally EPILOG), lists the options it takes by their names in
`freqai_seq.cli.options.AVAILABLE_CLI_OPTIONS` (OPTIONS, or ACTIONS: action -> (help, options)
for a command with actions), and runs it (`run(args) -> int`, the exit status)."""

from __future__ import annotations

from types import ModuleType

from freqai_seq.cli.commands import (
    backtest,
    bench,
    data,
    dryrun,
    hyperopt,
    install,
    intervals,
    keys,
    live_cycle,
    lookahead,
    market,
    plot,
    scale,
    skill,
    soak,
    threads,
    training_plot,
    tune,
    validate,
)

#: every command, in the order of `freqai-seq --help`
COMMANDS: tuple[ModuleType, ...] = (
    data, market, backtest, lookahead, hyperopt, plot, dryrun, validate, bench, scale,
    live_cycle, threads, training_plot, soak, skill, intervals, tune, install, keys)
