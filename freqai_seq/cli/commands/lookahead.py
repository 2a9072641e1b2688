"""`freqai-seq lookahead`: offline `freqtrade lookahead-analysis` with FreqAI."""

from __future__ import annotations

import argparse

from freqai_seq.cli.options import RUN_OPTIONS
from freqai_seq.cli.requests import run_request

NAME = "lookahead"
HELP = ("offline `freqtrade lookahead-analysis` with FreqAI, under a throw-away identifier")
EPILOG = ("Arguments after -- go to freqtrade unchanged. Exits 1 on look-ahead bias: an entry or "
          "exit that changes, or any value that changes when later candles are removed, apart "
          "from the cut's last candle that FreqAI leaves unpredicted and float32 rounding of the "
          "predictions.")
OPTIONS = (*RUN_OPTIONS, "lookahead_training_params", "lookahead_timerange", "lookahead_pairs",
           "minimum_trade_amount", "targeted_trade_amount", "keep", "freqtrade_args")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.runs.lookahead import run_lookahead

    return run_lookahead(run_request(args), args.minimum_trade_amount,
                         args.targeted_trade_amount, keep=args.keep)
