"""`freqai-seq plot`: offline `freqtrade plot-dataframe` and `plot-profit` of a FreqAI backtest."""

from __future__ import annotations

import argparse

from freqai_seq.cli.options import MARKET_OPTIONS

NAME = "plot"
HELP = ("offline `freqtrade plot-dataframe` and `plot-profit` of a FreqAI backtest (its "
        "predictions and trades)")
EPILOG = ("Arguments after -- go to plot-dataframe unchanged. Plots the newest backtest result "
          "of the identifier, with that backtest's config, timerange and pairs.")
OPTIONS = ("identifier", "model", "strategy", "run_pairs", "userdir", "logfile", *MARKET_OPTIONS,
           "plot_args")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.runs.plot import PlotRequest, run_plots
    from freqai_seq.runs.run_config import freqai_identifier

    return run_plots(PlotRequest(
        identifier=args.identifier or freqai_identifier(args.model, args.strategy),
        userdir=args.userdir, datadir=args.datadir, host=args.host, port=args.port,
        state_file=args.state_file, log_file=args.market_log, pairs=tuple(args.pairs or ()),
        extra=args.freqtrade_args, logfile=args.logfile))
