"""`freqai-seq backtest`: offline `freqtrade backtesting` with FreqAI, optionally spread over
workers and validated."""

from __future__ import annotations

import argparse

from freqai_seq.cli.options import RUN_OPTIONS
from freqai_seq.cli.requests import run_request

NAME = "backtest"
HELP = "offline `freqtrade backtesting` with FreqAI"
EPILOG = "Arguments after -- go to freqtrade unchanged."
OPTIONS = (*RUN_OPTIONS, "training_params", "timerange", "identifier", "validate", "pairs",
           "workers", "cluster", "training_threads", "freqtrade_args")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.runs.runner import run_backtest
    from freqai_seq.runs.walkforward.plan import WorkerPlan
    from freqai_seq.runs.walkforward.spread import run_spread

    request = run_request(args)
    if args.workers is None and args.cluster is None:
        code = run_backtest(request)
    else:
        code = run_spread(request, WorkerPlan(args.workers or 0, args.training_threads,
                                              args.cluster)).code
    if code != 0 or not args.validate:
        return code
    from freqai_seq.cli.commands.validate import run_validation
    from freqai_seq.evaluation.validation.validate import ValidateOptions

    identifier = request.run_identifier
    return run_validation(ValidateOptions(
        models=args.userdir / "models" / identifier,
        out=args.userdir / "validation" / identifier, datadir=args.datadir,
        configs=(args.userdir / "runs" / f"{identifier}.json",)))
