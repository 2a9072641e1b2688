"""The objects the shared options describe, built in one place and handed to the layers below:
a freqtrade run (`run_request`) and the user's setup a measuring command works on
(`workspace`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from freqai_seq.runs.runner import BacktestRequest, freqtrade_logfile, passthrough
from freqai_seq.runs.workspace import Workspace


def run_request(args: argparse.Namespace, **fields: Any) -> BacktestRequest:
    """The freqtrade run a command's run options describe (`fields` replace some)."""
    described = {
        "configs": getattr(args, "config", None), "strategy": args.strategy, "model": args.model,
        "timerange": getattr(args, "timerange", ""),
        "identifier": getattr(args, "identifier", None),
        "datadir": args.datadir, "userdir": args.userdir, "host": args.host, "port": args.port,
        "state_file": args.state_file, "log_file": args.market_log,
        "training_params": getattr(args, "training_params", None),
        "extra": [*freqtrade_logfile(args.logfile),
                  *passthrough(getattr(args, "freqtrade_args", None) or [])],
        "pairs": tuple(getattr(args, "pairs", None) or ())}
    return BacktestRequest(**{**described, **fields})


def workspace(args: argparse.Namespace) -> Workspace:
    """The Workspace of a measuring command's -c, --datadir, --userdir and -p; an option not
    given keeps the bundled set's value."""
    return Workspace(configs=tuple(args.config or Workspace().configs), datadir=args.datadir,
                     userdir=args.userdir, pairs=tuple(args.pairs or ()))


def results_folder(args: argparse.Namespace, name: str) -> Path:
    """--out, or <userdir>/<name>: a measuring command's results land in the user-data folder
    it was pointed at, beside the runs it made there."""
    return args.out or args.userdir / name
