"""freqtrade's option names and short forms on every command that shares an option, with the
earlier spellings still accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from freqai_seq.commands.cli import build_parser
from freqai_seq.commands.cli_options import FLAGS


def test_freqtrade_spellings_and_the_earlier_ones_parse_alike() -> None:
    parser = build_parser()
    freqtrade_style = parser.parse_args([
        "-vv", "backtest", "-c", "a.json", "-s", "MyStrategy", "--freqaimodel",
        "PyTorchGRURegressor", "--user-data-dir", "ud", "--data-dir", "dd"])
    earlier = parser.parse_args([
        "backtest", "--config", "a.json", "--strategy", "MyStrategy", "--model",
        "PyTorchGRURegressor", "--userdir", "ud", "-d", "dd"])
    for args in (freqtrade_style, earlier):
        assert (args.config, args.strategy, args.model, args.userdir, args.datadir) == (
            [Path("a.json")], "MyStrategy", "PyTorchGRURegressor", Path("ud"), Path("dd"))
    assert freqtrade_style.verbose == 2 and earlier.verbose == 0
    assert parser.parse_args(["lookahead", "-p", "BTC/USD", "ETH/USD"]).pairs == [
        "BTC/USD", "ETH/USD"]


RUNS = ("strategy", "model", "userdir", "config", "datadir", "logfile")


@pytest.mark.parametrize(("command", "names"), [
    ("backtest", (*RUNS, "timerange", "identifier", "training_params")),
    ("lookahead", (*RUNS, "pairs", "timerange", "training_params")),
    ("hyperopt", (*RUNS, "pairs", "timerange", "identifier", "training_params")),
    ("dryrun start", (*RUNS, "pairs", "training_params")),
    # plot reuses the run's config
    ("plot", ("strategy", "model", "userdir", "datadir", "pairs", "logfile")),
    ("tune", ("strategy", "model", "config", "datadir", "pairs")),  # no freqtrade userdir
    ("validate", ("strategy", "datadir", "pairs"))])
def test_every_command_spells_its_shared_options_alike(command: str, names: tuple) -> None:
    """(and the actions of `market` and `dryrun` take only their own options: test_market)"""
    sub = build_parser()
    for word in command.split():  # `dryrun start`: the action's own subparser
        sub = sub._subparsers._group_actions[0].choices[word]
    flags = {flag for action in sub._actions for flag in action.option_strings}
    for name in names:
        assert set(FLAGS[name]) <= flags, (command, name)


def test_no_command_takes_a_shared_option_under_only_some_of_its_spellings() -> None:
    """A shared option is added through cli_options (all its spellings, one dest) or not at
    all: a command that defined `--timerange` or `--config` by hand would fail here."""
    from freqai_seq.reference import command_paths

    for path in command_paths():
        sub = build_parser()
        for word in path:
            sub = sub._subparsers._group_actions[0].choices[word]
        for action in sub._actions:
            for name, spellings in FLAGS.items():
                if set(action.option_strings) & set(spellings):
                    assert set(action.option_strings) == set(spellings), (path, name)
                    assert action.dest == name, (path, name)
