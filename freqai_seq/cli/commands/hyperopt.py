"""`freqai-seq hyperopt`: offline `freqtrade hyperopt` of a FreqAI strategy."""

from __future__ import annotations

import argparse

from freqai_seq.cli.options import RUN_OPTIONS
from freqai_seq.cli.requests import run_request

NAME = "hyperopt"
HELP = ("offline `freqtrade hyperopt` of a FreqAI strategy's entry/exit thresholds, roi and "
        "stoploss (models trained once)")
EPILOG = ("Arguments after -- go to freqtrade unchanged. FreqAI trains (or reuses the "
          "identifier's predictions) once, before the first epoch; each epoch only re-runs the "
          "strategy's entry and exit signals on those predictions.")
OPTIONS = (*RUN_OPTIONS, "training_params", "hyperopt_timerange", "hyperopt_identifier",
           "pairs", "epochs", "spaces", "loss", "jobs", "random_state", "min_trades",
           "export_params", "freqtrade_args")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.runs.hyperopt import HyperoptRequest, run_hyperopt

    return run_hyperopt(HyperoptRequest(
        backtest=run_request(args), epochs=args.epochs, spaces=tuple(args.spaces),
        loss=args.loss, jobs=args.jobs, random_state=args.random_state,
        min_trades=args.min_trades, export_params=args.export_params))
