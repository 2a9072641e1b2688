"""Reference text generated from the code: the key tables of `freqai-seq keys` and the
commands' help.

One definition each, so that the command line and the documentation site (`docs/hooks/`,
which imports only this module) print the same text and the docs cannot drift from the
dataclasses and the argument parser.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path

#: the key tables `key_table` knows: `freqai-seq keys`, `keys --hybrid`, `keys --ensemble`
KEY_TABLES = ("sequence", "hybrid", "ensemble")

#: help text width, fixed so that the docs do not depend on the terminal that builds them
HELP_WIDTH = 100


def key_table(which: str) -> str:
    """The Markdown table (key, default, meaning) of one model family's
    `model_training_parameters`: `sequence` (LSTM, GRU), `hybrid` (the extra keys of the
    CNN+LSTM-attention network) or `ensemble` (the extra keys of the LightGBM ensemble)."""
    from freqai_seq.model.config_schema import (
        HYBRID_KEY_DOCS,
        KEY_DOCS,
        HybridConfig,
        SequenceConfig,
    )
    from freqai_seq.model.ensemble.config import (
        ENSEMBLE_KEY_DOCS,
        LIGHTGBM_DEFAULTS,
        EnsembleConfig,
    )

    if which == "ensemble":
        docs, defaults = ENSEMBLE_KEY_DOCS, {**EnsembleConfig().to_dict(),
                                             "lightgbm": LIGHTGBM_DEFAULTS}
    elif which == "hybrid":
        docs, defaults = HYBRID_KEY_DOCS, HybridConfig().to_dict()
    elif which == "sequence":
        docs, defaults = KEY_DOCS, SequenceConfig().to_dict()
    else:
        raise ValueError(f"no key table {which!r}; one of {', '.join(KEY_TABLES)}")
    rows = [f"| `{key}` | `{json.dumps(defaults[key])}` | {doc} |" for key, doc in docs.items()]
    return "\n".join(["| key | default | meaning |", "| --- | --- | --- |", *rows])


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_paths(parser: argparse.ArgumentParser | None = None,
                  prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and subcommand of `freqai-seq` (`["market", "start"]`, ...), in the
    parser's order; a command with subcommands is listed before them."""
    if parser is None:
        from freqai_seq.cli.main import build_parser

        parser = build_parser()
    found: list[list[str]] = []
    for name, sub in _subparsers(parser).items():
        found.append([*prefix, name])
        found.extend(command_paths(sub, (*prefix, name)))
    return found


def synopsis(path: list[str]) -> str:
    """`freqai-seq <path...> --help` as plain text, wrapped at HELP_WIDTH columns: `[]` the
    top-level help, `["market", "start"]` a subcommand's."""
    from freqai_seq.cli.main import build_parser

    parser = build_parser()
    for name in path:
        subs = _subparsers(parser)
        if name not in subs:
            where = " ".join(["freqai-seq", *path[:path.index(name)]])
            raise ValueError(f"{where} has no command {name!r}; one of {', '.join(subs)}")
        parser = subs[name]
    parser.formatter_class = functools.partial(parser.formatter_class, width=HELP_WIDTH)
    # defaults inside the installed package read `freqai_seq/...`, wherever it is installed
    installed = str(Path(__file__).resolve().parent.parent) + os.sep
    return parser.format_help().rstrip().replace(installed, "")
