"""The options several `freqai-seq` commands share, each defined once with freqtrade's names
and short forms (`-s/--strategy`, `--freqaimodel`, `-p/--pairs`, `--userdir`/`--user-data-dir`,
`-d/--datadir`/`--data-dir`, `--logfile`/`--log-file`); the spellings of earlier releases stay as
aliases."""

from __future__ import annotations

import argparse
from typing import Any

FLAGS: dict[str, tuple[str, ...]] = {
    "strategy": ("-s", "--strategy"),
    "model": ("--freqaimodel", "--model"),  # --model: the earlier spelling
    "pairs": ("-p", "--pairs"),
    "userdir": ("--userdir", "--user-data-dir"),
    "datadir": ("-d", "--datadir", "--data-dir"),
    "config": ("-c", "--config"),
    "logfile": ("--logfile", "--log-file"),  # freqtrade's own log file, as freqtrade's option
    "timerange": ("--timerange",),
    "identifier": ("--identifier",),  # FreqAI's identifier
    "training_params": ("--training-params",),  # replaces freqai.model_training_parameters
}


def add_option(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> argparse.Action:
    """Add the shared option `name` (a key of FLAGS) to `parser`; kwargs as add_argument's."""
    return parser.add_argument(*FLAGS[name], dest=name, **kwargs)
