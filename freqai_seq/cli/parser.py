"""`freqai-seq`'s argument parser, assembled from the command modules (freqai_seq.cli.commands)
and the option registry (freqai_seq.cli.options), and what the docs read of it: every command's
path and help text."""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path
from types import ModuleType

from freqai_seq.cli.commands import COMMANDS
from freqai_seq.cli.options import add_options

#: help text width, fixed so that the docs do not depend on the terminal that builds them
HELP_WIDTH = 100


def description() -> str:
    """The top-level help's first paragraph: what the tool is, and every command."""
    return ("freqai-seq: sequence models for freqtrade's FreqAI, an offline Binance-compatible "
            "market to run them on, and their measurements. Commands: "
            + ", ".join(command.NAME for command in COMMANDS) + ".")


def _add_command(sub: argparse._SubParsersAction, command: ModuleType) -> None:
    parser = sub.add_parser(command.NAME, help=command.HELP,
                            epilog=getattr(command, "EPILOG", None))
    parser.set_defaults(func=command.run)
    actions = getattr(command, "ACTIONS", None)
    if actions is None:
        target = (parser.add_mutually_exclusive_group()
                  if getattr(command, "EXCLUSIVE", False) else parser)
        add_options(target, command.OPTIONS)
        return
    per_action = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, (text, options) in actions.items():
        add_options(per_action.add_parser(name, help=text), options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freqai-seq", description=description())
    add_options(parser, ("version", "verbose"))
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        _add_command(sub, command)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_paths(parser: argparse.ArgumentParser | None = None,
                  prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and subcommand of `freqai-seq` (`["market", "start"]`, ...), in the
    parser's order; a command with subcommands is listed before them."""
    found: list[list[str]] = []
    for name, sub in _subparsers(parser or build_parser()).items():
        found.append([*prefix, name])
        found.extend(command_paths(sub, (*prefix, name)))
    return found


def synopsis(path: list[str]) -> str:
    """`freqai-seq <path...> --help` as plain text, wrapped at HELP_WIDTH columns: `[]` the
    top-level help, `["market", "start"]` a subcommand's."""
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
