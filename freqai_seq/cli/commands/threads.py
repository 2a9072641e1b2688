"""`freqai-seq threads`: training time of the shipped networks per torch thread count."""

from __future__ import annotations

import argparse

NAME = "threads"
HELP = ("training time of the shipped networks with 1, 2 and torch's default threads, idle and "
        "beside a CPU-bound process (the num_threads default)")
OPTIONS = ("networks", "thread_counts", "threads_repeat", "threads_train_epochs", "days", "busy",
           "threads_out", "page")
BLOCK = "threads"  # on docs/results/scale-out.md


def run(args: argparse.Namespace) -> int:
    from freqai_seq.evaluation import threads
    from freqai_seq.evaluation.publish import publish

    settings = threads.ThreadSettings(networks=tuple(args.networks),
                                      threads=tuple(dict.fromkeys(args.threads)),
                                      repeat=args.repeat, epochs=args.train_epochs,
                                      days=args.days, busy=args.busy, out_dir=args.out)
    publish(threads.format_report(threads.run(settings)), BLOCK, args.out / "threads.md",
            args.page)
    return 0
