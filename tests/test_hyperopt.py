"""`freqai-seq hyperopt`: freqtrade's hyperopt with FreqAI, offline; models trained once."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.process import MarketState
from freqai_seq.runs.hyperopt import (
    DEFAULT_LOSS,
    HyperoptRequest,
    best_epoch,
    count_trainings,
    default_identifier,
)
from freqai_seq.runs.run_config import run_overlay
from freqai_seq.runs.runner import BacktestRequest
from tests.conftest import INTEGRATION_TIMERANGE, ROOT, run_cli

PAIRS = ["BTC/USD", "ETH/USD"]
TINY_NETWORK = {"window": 12, "hidden_size": 16, "num_layers": 1, "epochs": 2, "batch_size": 64,
                "seed": 42, "num_threads": 1}


def _request(**kwargs) -> HyperoptRequest:
    backtest = BacktestRequest(
        configs=None, strategy="FreqaiSeqStrategy", model="PyTorchLSTMRegressor",
        timerange="20190301-20190601", identifier=None, datadir=Path("d"), userdir=Path("u"),
        host="127.0.0.1", port=0, state_file=Path("s"), log_file=Path("l"),
        extra=["--", "--print-all"])
    return HyperoptRequest(backtest=backtest, **kwargs)


def test_request_gets_a_dedicated_identifier_and_freqtrade_arguments() -> None:
    request = _request(epochs=7, spaces=("buy", "roi")).validated()
    assert request.backtest.run_identifier == "hyperopt-pytorchlstmregressor-freqaiseqstrategy"
    assert default_identifier("LightGBMRegressor", "X") == "hyperopt-lightgbmregressor-x"
    args = request.freqtrade_args()
    assert args[:4] == ["--epochs", "7", "--spaces", "buy"]
    assert args[args.index("--random-state"):][:2] == ["--random-state", "42"]
    assert args[-1] == "--print-all"  # the user's extra arguments, without the --
    # strategies/<Strategy>.json only on request, whatever the config says
    assert request.backtest.settings == {"disableparamexport": True}
    exported = _request(export_params=True).validated().backtest
    assert run_overlay({}, exported.spec)["disableparamexport"] is False


def test_the_example_config_runs_plain_freqtrade_hyperopt_without_exporting() -> None:
    """`freqtrade hyperopt -c config.json` stopped with `No Hyperopt loss set`, and a finished
    one wrote strategies/<Strategy>.json, which every later backtest loads without a word."""
    from freqtrade.configuration.config_validation import validate_config_consistency
    from freqtrade.enums import RunMode

    from freqai_seq.runs.class_names import classes_in, module_file, py_files
    from freqai_seq.runs.loaders import example_config

    config = json.loads(example_config())  # what `freqai-seq install --config` writes
    assert config["hyperopt_loss"] == DEFAULT_LOSS  # the loss `freqai-seq hyperopt` uses
    losses = module_file("freqtrade.optimize.hyperopt").parent.parent / "hyperopt_loss"
    assert DEFAULT_LOSS in classes_in(py_files(losses))  # freqtrade's own loss of that name
    assert config["disableparamexport"] is True
    validate_config_consistency({**config, "runmode": RunMode.HYPEROPT}, preliminary=True)


@pytest.mark.parametrize("spaces", [("all",), ("buy", "features")])
def test_spaces_acting_before_the_predictions_are_refused(spaces: tuple[str, ...]) -> None:
    with pytest.raises(FreqaiSeqError, match="computes the predictions once"):
        _request(spaces=spaces).validated()


def test_zero_random_state_and_epochs_are_refused() -> None:
    with pytest.raises(FreqaiSeqError, match="random-state"):
        _request(random_state=0).validated()  # freqtrade would pick a random one
    with pytest.raises(FreqaiSeqError, match="epochs"):
        _request(epochs=0).validated()


def test_trainings_are_counted_before_and_after_the_epochs_begin() -> None:
    log = "\n".join([
        "freqai - INFO - -------------------- Done training BTC/USD (0.41 secs) ----",
        "freqai - INFO - -------------------- Done training ETH/USD (0.40 secs) ----",
        "hyperopt_optimizer - INFO - Hyperopting with data from 2019-08-01 up to ...",
        "freqai - INFO - -------------------- Done training BTC/USD (0.39 secs) ----",
    ])
    trainings = count_trainings(log)
    assert (trainings.before_epochs, trainings.during_epochs) == (2, 1)


def test_best_epoch_ignores_non_finite_losses() -> None:
    epochs = [{"loss": math.nan, "current_epoch": 1}, {"loss": 0.5, "current_epoch": 2},
              {"loss": -0.2, "current_epoch": 3}, {"loss": math.inf, "current_epoch": 4}]
    best = best_epoch(epochs)
    assert best is not None and best["current_epoch"] == 3
    assert best_epoch([{"loss": math.nan}]) is None


def test_thresholds_follow_the_epoch_parameters_on_an_analysed_frame(tmp_path: Path) -> None:
    """What hyperopt relies on: the frame is analysed once (FreqAI's columns), and each epoch's
    entry_k / exit_k act through populate_entry_trend / populate_exit_trend alone."""
    from freqtrade.configuration.load_config import load_from_files
    from freqtrade.resolvers import StrategyResolver

    config = load_from_files([str(ROOT / "config.json")])
    strategy = StrategyResolver.load_strategy({**config, "strategy": "FreqaiSeqStrategy",
                                               "strategy_path": str(ROOT / "strategies"),
                                               "user_data_dir": tmp_path})
    strategy.freqai_info = config["freqai"]  # what ft_bot_start sets
    label = strategy.label
    rng = np.random.default_rng(0)
    analysed = pd.DataFrame({"date": pd.date_range("2019-08-01", periods=200, freq="h"),
                             "volume": 1.0, "do_predict": 1, label: rng.normal(0, 0.01, 200),
                             f"{label}_mean": 0.0, f"{label}_std": 0.01})
    counts = {}
    for entry_k, exit_k in ((0.0, 0.0), (1.0, 1.0)):
        strategy.entry_k.value, strategy.exit_k.value = entry_k, exit_k
        frame = strategy.populate_exit_trend(
            strategy.populate_entry_trend(analysed.copy(), {"pair": "BTC/USD"}),
            {"pair": "BTC/USD"})
        assert np.allclose(frame["entry_threshold"], entry_k * 0.01)
        assert np.allclose(frame["exit_threshold"], -exit_k * 0.01)
        counts[entry_k] = (int(frame["enter_long"].eq(1).sum()),
                           int(frame["exit_long"].eq(1).sum()))
    assert counts[0.0][0] > counts[1.0][0] > 0  # a higher entry_k: fewer entries
    assert counts[0.0][1] > counts[1.0][1] > 0  # a higher exit_k: fewer exits


# ------------------------------------------------------------------ real freqtrade hyperopt
def _hyperopt(market: MarketState, market_dir: Path, userdir: Path, params: Path,
              epochs: int) -> tuple[int, str]:
    short = userdir.parent / "short-training.json"  # 30 days, whatever config.json says
    short.write_text('{"freqai": {"train_period_days": 30}}')
    result = run_cli(
        "hyperopt", "-c", "config.json", "-c", str(short), "--pairs", *PAIRS,
        "--training-params", str(params),
        "--timerange", INTEGRATION_TIMERANGE, "--epochs", str(epochs), "--min-trades", "1",
        "--userdir", str(userdir), "--port", str(market.port),
        "--state-file", str(market_dir / "market.json"), "--datadir", str(market.datadir))
    return result.returncode, result.stdout + result.stderr


@pytest.mark.integration
def test_hyperopt_trains_once_and_writes_epochs_for_every_space(
        market: MarketState, market_dir: Path, tmp_path: Path) -> None:
    userdir = tmp_path / "user_data"
    params = tmp_path / "params.json"
    params.write_text(json.dumps(TINY_NETWORK))
    epochs = 12
    code, output = _hyperopt(market, market_dir, userdir, params, epochs)
    assert code == 0, output[-5000:]

    identifier = "hyperopt-pytorchlstmregressor-freqaiseqstrategy"
    # FreqAI trained each pair's two walk-forward windows once, before the first epoch
    windows = len(PAIRS) * 2
    log = (userdir / "runs" / f"{identifier}.hyperopt.log").read_text()
    trainings = count_trainings(log)
    assert (trainings.before_epochs, trainings.during_epochs) == (windows, 0)
    assert len(list((userdir / "models" / identifier).glob("sub-train-*"))) == windows
    assert f"FreqAI trainings: {windows}, all before the first epoch" in output

    results = list((userdir / "hyperopt_results").glob("*.fthypt"))
    assert len(results) == 1, results
    lines = [json.loads(line) for line in results[0].read_text().splitlines()]
    assert len(lines) == epochs
    assert [e["current_epoch"] for e in lines] == list(range(1, epochs + 1))
    for epoch in lines:
        details = epoch["params_details"]
        assert set(details) == {"buy", "sell", "roi", "stoploss"}
        assert 0.0 <= details["buy"]["entry_k"] <= 1.5
        assert -0.5 <= details["sell"]["exit_k"] <= 1.5
        assert details["roi"] and -0.35 <= details["stoploss"]["stoploss"] <= -0.02
        assert math.isfinite(epoch["loss"])
    # the parameters act: the epochs did not all trade alike
    assert len({e["results_metrics"]["total_trades"] for e in lines}) > 1
    assert not (ROOT / "strategies" / "FreqaiSeqStrategy.json").exists()  # nothing exported

    # a second hyperopt of the identifier reuses the predictions: no training at all
    code, output = _hyperopt(market, market_dir, userdir, params, 3)
    assert code == 0, output[-5000:]
    log = (userdir / "runs" / f"{identifier}.hyperopt.log").read_text()
    assert count_trainings(log) == count_trainings("")
    assert "FreqAI trainings: 0, all before the first epoch" in output
    assert len(list((userdir / "hyperopt_results").glob("*.fthypt"))) == 2
