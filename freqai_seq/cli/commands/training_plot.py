"""`freqai-seq training-plot`: the epochs of every saved training of an identifier."""

from __future__ import annotations

import argparse

NAME = "training-plot"
HELP = ("draw the epochs (losses, learning rate, gradient norm, loss ratio) of every saved "
        "training of an identifier")
OPTIONS = ("identifier", "model", "strategy", "userdir", "training_plot_pairs", "window_end",
           "training_plot_out")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import training_plot
    from freqai_seq.runs.run_config import freqai_identifier

    identifier = args.identifier or freqai_identifier(args.model, args.strategy)
    out = args.out or args.userdir / "plot" / f"training-{identifier}.html"
    path, text = training_plot.write(args.userdir / "models" / identifier, out,
                                     tuple(args.pairs or ()), args.window)
    print(f"{text}\nWritten to {path}")
    return 0
