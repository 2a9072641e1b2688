"""`freqai-seq scale`: speed-up of the walk-forward's training phase per worker count."""

from __future__ import annotations

import argparse

from freqai_seq.cli.requests import results_folder, workspace

NAME = "scale"
HELP = ("speed-up of the walk-forward's training phase with 1, 2, ... worker processes (the "
        "same backtest each time, from empty models folders)")
OPTIONS = ("config", "datadir", "userdir", "pairs", "scale_workers", "scale_timerange",
           "training_threads", "scale_repeat", "scale_out", "page")
BLOCK = "scale"  # on docs/results/scale-out.md


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import scale
    from freqai_seq.evaluation.publish import publish

    out = results_folder(args, "scale")
    settings = scale.ScaleSettings(workers=tuple(args.workers), timerange=args.timerange,
                                   threads=args.training_threads, repeat=args.repeat,
                                   out_dir=out, workspace=workspace(args))
    publish(scale.format_report(scale.run(settings)), BLOCK, out / "scale.md", args.page)
    return 0
