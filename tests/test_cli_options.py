"""The option registry: freqtrade's option names and short forms on every command that shares an
option, the earlier spellings still accepted, each option declared once, every command in the
top-level help, and `--version`."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

import pytest

from freqai_seq.cli import main
from freqai_seq.cli.commands import COMMANDS
from freqai_seq.cli.options import AVAILABLE_CLI_OPTIONS
from freqai_seq.cli.parser import build_parser, command_paths
from freqai_seq.cli.requests import workspace
from freqai_seq.runs.workspace import BUNDLED, Workspace


def _subparser(path: list[str]) -> argparse.ArgumentParser:
    sub = build_parser()
    for word in path:  # `dryrun start`: the action's own subparser
        sub = sub._subparsers._group_actions[0].choices[word]
    return sub


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
    assert parser.parse_args(["bench", "--readme", "p.md"]).page == Path("p.md")


RUNS = ("-s", "--freqaimodel", "--userdir", "-c", "-d", "--logfile")
WORKSPACE = ("-c", "-d", "--userdir", "-p")
MEASURING = ("bench", "skill", "intervals", "scale", "live-cycle", "soak", "tune")


@pytest.mark.parametrize(("command", "flags"), [
    ("backtest", (*RUNS, "--timerange", "--identifier", "--training-params")),
    ("lookahead", (*RUNS, "-p", "--timerange", "--training-params")),
    ("hyperopt", (*RUNS, "-p", "--timerange", "--identifier", "--training-params")),
    ("dryrun start", (*RUNS, "-p", "--training-params")),
    # plot reuses the run's config
    ("plot", ("-s", "--freqaimodel", "--userdir", "-d", "-p", "--logfile")),
    ("validate", ("-s", "-c", "-d", "-p")),
    # the measuring commands work on the user's own setup
    *((name, WORKSPACE) for name in MEASURING if name != "tune"),
    ("tune", ("-s", "--freqaimodel", "-c", "-d", "-p"))])  # trials in a throw-away userdir
def test_every_command_takes_its_shared_options(command: str, flags: tuple) -> None:
    """(and the actions of `market` and `dryrun` take only their own options: test_market)"""
    taken = {flag for action in _subparser(command.split())._actions
             for flag in action.option_strings}
    assert set(flags) <= taken, command


@pytest.mark.parametrize("command", MEASURING)
def test_a_measuring_command_works_on_the_bundled_set_or_the_users_own(command: str) -> None:
    parser = build_parser()
    assert workspace(parser.parse_args([command])) == BUNDLED
    own = ["-c", "a.json", "--config", "b.json", "--datadir", "candles", "-p", "X/EUR", "Y/EUR"]
    if command != "tune":  # its trials run in a throw-away user-data folder
        own += ["--user-data-dir", "mine"]
    assert workspace(parser.parse_args([command, *own])) == Workspace(
        configs=(Path("a.json"), Path("b.json")), datadir=Path("candles"),
        userdir=Path("mine") if command != "tune" else BUNDLED.userdir,
        pairs=("X/EUR", "Y/EUR"))


def test_every_option_is_declared_once_and_every_command_names_only_registered_ones() -> None:
    """One Arg per meaning: no help text written twice; options that share a flag share every
    spelling and the dest, so `--timerange` or `--config` cannot be half-defined by hand."""
    helps = [arg.kwargs["help"] for arg in AVAILABLE_CLI_OPTIONS.values()
             if arg.kwargs.get("help") not in (None, argparse.SUPPRESS)
             and "%(default)s" not in arg.kwargs["help"]]
    assert len(helps) == len(set(helps)), sorted(h for h in helps if helps.count(h) > 1)
    by_flag: dict[str, tuple] = {}
    for name, arg in AVAILABLE_CLI_OPTIONS.items():
        if arg.positional:
            continue
        shape = (arg.flags, arg.kwargs.get("dest", name))
        for flag in arg.flags:
            assert by_flag.setdefault(flag, shape) == shape, (name, flag)
    used = set()
    for command in COMMANDS:
        lists = ([options for _, options in command.ACTIONS.values()]
                 if hasattr(command, "ACTIONS") else [command.OPTIONS])
        for options in lists:
            assert set(options) <= set(AVAILABLE_CLI_OPTIONS), command.NAME
            assert len(options) == len(set(options)), command.NAME
            used.update(options)
    assert used | {"version", "verbose"} == set(AVAILABLE_CLI_OPTIONS)  # none unused


def test_epochs_means_hyperopt_epochs_only() -> None:
    """freqtrade's --epochs is hyperopt's; the network epochs of bench and tune are
    --train-epochs."""
    parser = build_parser()
    assert parser.parse_args(["hyperopt", "--epochs", "7"]).epochs == 7
    assert parser.parse_args(["bench", "--train-epochs", "3"]).train_epochs == 3
    assert parser.parse_args(["tune", "--train-epochs", "3"]).train_epochs == 3
    for command in ("bench", "tune"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--epochs", "3"])


def test_the_top_level_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    description = text.split("Commands:", 1)[1].split("\n\n", 1)[0]
    named = {word.strip(" .\n,") for word in description.split(",")}
    assert named == {command.NAME for command in COMMANDS}
    assert [path[0] for path in command_paths() if len(path) == 1] == [
        command.NAME for command in COMMANDS]


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_the_plugin_freqtrade_and_torch(
        flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([flag])
    assert exited.value.code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{name} {metadata.version(name)}" for name in ("freqai-seq", "freqtrade", "torch")]


@pytest.mark.parametrize("value", ["70000", "-1", "http"])
def test_every_port_option_refuses_a_port_no_server_can_listen_on(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A one-line usage error (exit 2) on every command, not a failure in a server's bind."""
    checked = []
    for path in command_paths():
        for flag in {f for a in _subparser(path)._actions for f in a.option_strings} & {
                "--port", "--api-port"}:
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
