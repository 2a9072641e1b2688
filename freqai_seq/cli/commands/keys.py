"""`freqai-seq keys`: the sequence models' model_training_parameters as a Markdown table."""

from __future__ import annotations

import argparse

NAME = "keys"
HELP = "print the sequence models' model_training_parameters as a Markdown table"
OPTIONS = ("hybrid", "ensemble")
EXCLUSIVE = True  # one table at a time


def run(args: argparse.Namespace) -> int:
    from freqai_seq.cli.reference import key_table

    print(key_table("ensemble" if args.ensemble else "hybrid" if args.hybrid else "sequence"))
    return 0
