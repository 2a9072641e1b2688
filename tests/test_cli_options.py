"""freqtrade's option names and short forms on every command that shares an option, with the
earlier spellings still accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from freqai_seq.cli.main import build_parser
from freqai_seq.cli.options import FLAGS


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
    from freqai_seq.cli.reference import command_paths

    for path in command_paths():
        sub = build_parser()
        for word in path:
            sub = sub._subparsers._group_actions[0].choices[word]
        for action in sub._actions:
            for name, spellings in FLAGS.items():
                if set(action.option_strings) & set(spellings):
                    assert set(action.option_strings) == set(spellings), (path, name)
                    assert action.dest == name, (path, name)


@pytest.mark.parametrize("value", ["70000", "-1", "http"])
def test_every_port_option_refuses_a_port_no_server_can_listen_on(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A one-line usage error (exit 2) on every command, not a failure in a server's bind."""
    from freqai_seq.cli.reference import command_paths

    checked = []
    for path in command_paths():
        sub = build_parser()
        for word in path:
            sub = sub._subparsers._group_actions[0].choices[word]
        for flag in {f for a in sub._actions for f in a.option_strings} & {"--port",
                                                                           "--api-port"}:
            with pytest.raises(SystemExit) as exited:
                build_parser().parse_args([*path, flag, value])
            assert exited.value.code == 2
            assert f"argument {flag}: not a TCP port" in capsys.readouterr().err
            checked.append(" ".join(path))
    assert {"backtest", "market start", "dryrun start", "soak"} <= set(checked)
    assert build_parser().parse_args(["market", "start", "--port", "0"]).port == 0  # a free one


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--train-days", "-5", "must be at least 1"), ("--predict-days", "0", "must be at least 1"),
    ("--timeout", "-1", "must be positive")])
def test_tune_refuses_windows_and_timeouts_that_cannot_run(
        option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["tune", option, value])
    assert exited.value.code == 2
    assert f"argument {option}: {message}" in capsys.readouterr().err
