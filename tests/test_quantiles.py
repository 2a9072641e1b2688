"""Quantile heads (`&-q<NN>_<target>`): the pinball loss learns the quantiles of a series whose
spread moves with an input, they never cross, their intervals are conformally calibrated, and
backtest and live give the same interval for a candle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.btanalysis import load_backtest_stats
from freqtrade.exceptions import OperationalException
from scipy.stats import spearmanr

from freqai_seq.freqaimodels import (
    LSTMLightGBMEnsembleRegressor,
    PyTorchCNNLSTMAttentionRegressor,
    PyTorchGRURegressor,
    PyTorchLSTMRegressor,
)
from freqai_seq.model.intervals import conformal_correction
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.model.tasks import parse_labels
from tests.conftest import INTEGRATION_TIMERANGE, run_cli
from tests.seqkit import make_config, predict_frame, train

N_TRAIN, N_TEST = 3000, 1000
LABELS = ["&-q10_y", "&-q50_y", "&-q90_y"]
# Held-out coverage of the calibrated 80 % interval (0.80 expected; the calibration rows are the
# last tenth of the training window, so sampling error of about +-0.03 on each side).
COVERAGE_TOLERANCE = 0.06


def heteroscedastic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """y = sigma * noise with sigma = 0.2 + s[t-2] (s a volatility-like input, |N(0, 1)|): its
    quantiles are known at every row."""
    rng = np.random.default_rng(seed)
    s, b, noise = rng.normal(size=(3, n))
    s = np.abs(s)
    sigma = 0.2 + np.roll(s, 2)
    y = sigma * noise
    y[:2] = np.nan
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC"),
                          "%-s": s, "%-b": b})
    for label in LABELS:
        frame[label] = y
    return frame.assign(sigma=sigma)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    frame = heteroscedastic_frame(N_TRAIN + N_TEST)
    config = make_config(tmp_path_factory.mktemp("quantiles"), learning_rate=0.005,
                         epochs=40, early_stopping_patience=8)
    regressor, dk = train(PyTorchLSTMRegressor, config, frame.iloc[:N_TRAIN].drop(
        columns="sigma"))
    return regressor, dk, frame


def held_out(trained) -> tuple[pd.DataFrame, pd.DataFrame]:
    regressor, dk, frame = trained
    pred, do_predict = predict_frame(regressor, dk, frame.drop(columns="sigma"))
    rows = np.arange(len(frame)) >= N_TRAIN
    rows &= (do_predict == 1)
    return pred[rows], frame[rows]


def test_pinball_heads_learn_the_spread_and_never_cross(trained) -> None:
    pred, truth = held_out(trained)
    q10, q50, q90 = (pred[label].to_numpy() for label in LABELS)
    assert (q10 <= q50).all() and (q50 <= q90).all()
    coverage = np.mean((truth["&-q10_y"] >= q10) & (truth["&-q10_y"] <= q90))
    assert abs(coverage - 0.80) <= COVERAGE_TOLERANCE, coverage
    # the interval follows the true spread (0.2 + |a[t-2]|), it is not one width for all
    assert spearmanr(q90 - q10, truth["sigma"]).statistic > 0.6


def test_the_calibration_is_stored_with_the_model(trained, tmp_path: Path) -> None:
    regressor, _, _ = trained
    (calibration,) = regressor.model.calibration
    assert (calibration.lower, calibration.upper, calibration.coverage) == (
        "&-q10_y", "&-q90_y", 0.8)
    assert calibration.rows > 200  # FreqAI's test split, less the embargo
    regressor.model.save(tmp_path / "m.zip")
    assert SequenceModel.load(tmp_path / "m.zip").calibration == [calibration]


def test_backtest_and_live_give_the_same_interval_for_a_candle(trained) -> None:
    regressor, dk, frame = trained
    frame = frame.drop(columns="sigma")
    full, _ = predict_frame(regressor, dk, frame.iloc[N_TRAIN:])
    for t in (0, 7, 300, N_TEST - 1):
        end = N_TRAIN + t
        live, live_do = predict_frame(regressor, dk,
                                      frame.iloc[end + 1 - regressor.CONV_WIDTH:end + 1])
        assert live_do[-1] == 1
        for label in LABELS:
            # float32 rounding of the same window in a batch of another size, in units of a
            # target whose standard deviation is about 1
            assert live[label].iloc[-1] == pytest.approx(full[label].iloc[t], abs=1e-5)


def test_conformal_correction_reaches_the_nominal_coverage_on_exchangeable_data() -> None:
    rng = np.random.default_rng(3)
    calibration, fresh = rng.normal(size=500), rng.normal(size=50_000)
    for half_width in (0.5, 3.0):  # far too narrow (38 %), far too wide (99.7 %)
        for coverage in (0.8, 0.9):
            lower, upper = np.full(500, -half_width), np.full(500, half_width)
            q, rows = conformal_correction(lower, upper, calibration, coverage)
            assert rows == 500
            inside = np.mean(np.abs(fresh) <= half_width + q)
            assert abs(inside - coverage) < 0.03, (half_width, coverage, inside)


def test_quantile_labels_must_hold_one_target(tmp_path: Path) -> None:
    frame = heteroscedastic_frame(600).drop(columns="sigma")
    frame["&-q90_y"] = frame["&-q90_y"] * 2
    with pytest.raises(OperationalException, match="must hold the same target"):
        train(PyTorchLSTMRegressor, make_config(tmp_path), frame)


def test_label_scheme() -> None:
    layout = parse_labels(["&-ret_12", "&-q90_ret_12", "&-q05_ret_12", "&-q10_ret_12",
                           "&-q95_ret_12", "&-q50_ret_12"])
    (group,) = layout.quantile_groups
    assert group.target == "ret_12" and group.levels == (0.05, 0.1, 0.5, 0.9, 0.95)
    assert group.intervals() == [(2, 4, 0.9), (3, 1, 0.8)]
    assert layout.return_idx == [0]


@pytest.mark.parametrize("model_cls", [PyTorchGRURegressor, PyTorchCNNLSTMAttentionRegressor,
                                       LSTMLightGBMEnsembleRegressor])
def test_every_sequence_model_predicts_calibrated_non_crossing_quantiles(
        model_cls, tmp_path: Path) -> None:
    frame = heteroscedastic_frame(1500).drop(columns="sigma")
    params = {"epochs": 3, "window": 8, "pool_horizons": [2, 4, 8]} if \
        model_cls is PyTorchCNNLSTMAttentionRegressor else {"epochs": 3}
    regressor, dk = train(model_cls, make_config(tmp_path, **params), frame.iloc[:1200])
    assert [c.coverage for c in regressor.model.calibration] == [0.8]
    pred, do_predict = predict_frame(regressor, dk, frame)
    q = pred.loc[do_predict == 1, LABELS].to_numpy()
    assert len(q) > 1000 and (np.diff(q, axis=1) >= 0).all()


# ------------------------------------------------------------------ real freqtrade
INTERVAL_STRATEGY = '''
from freqtrade.strategy import DecimalParameter

from freqai_seq.strategy.interval_strategy import IntervalStrategyBase


class LowHurdleIntervalStrategy(IntervalStrategyBase):
    """A hurdle a 2-epoch model's lower quantile clears now and then, a volatility target
    some forecasts exceed, and a cap of half the proposed stake."""

    max_stake_multiple = 0.5
    target_volatility = DecimalParameter(0.001, 0.08, default=0.01, decimals=3, space="buy")

    def round_trip_fee(self, pair):
        return -0.03
'''
# the volatility training options too: the log-variance label, started from HAR
TINY_INTERVALS = {"window": 12, "hidden_size": 16, "epochs": 2, "cross_pair": True,
                  "volatility_baseline": "har"}


@pytest.fixture(scope="module")
def interval_run(backtest, tmp_path_factory: pytest.TempPathFactory):
    strategies = tmp_path_factory.mktemp("interval-strategy")
    (strategies / "LowHurdleIntervalStrategy.py").write_text(INTERVAL_STRATEGY)
    fixed = strategies / "fixed-stake.json"  # freqtrade then proposes 100 for every trade
    fixed.write_text(json.dumps({"stake_amount": 100, "freqai": {
        "feature_parameters": {"volatility_label": "logvar"}}}))
    run = backtest("interval-lstm", "PyTorchLSTMRegressor", TINY_INTERVALS,
                   ["BTC/USD", "ETH/USD"], "LowHurdleIntervalStrategy", "--",
                   "--strategy-path", str(strategies), "-c", str(fixed))
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    return run


@pytest.mark.integration
def test_interval_strategy_enters_only_above_the_hurdle_and_caps_its_stakes(
        interval_run) -> None:
    run = interval_run
    trades = load_backtest_stats(run.userdir / "backtest_results")["strategy"][
        "LowHurdleIntervalStrategy"]["trades"]
    assert len(trades) >= 3, len(trades)
    refused, multiples = 0, []
    for pair in ("BTC/USD", "ETH/USD"):
        files = sorted((run.models / "backtesting_predictions").glob(
            f"cb_{pair.split('/')[0].lower()}_*_prediction.feather"))
        pred = pd.concat([pd.read_feather(f) for f in files]).set_index("date")
        usable = pred[pred["do_predict"] == 1]
        refused += int((usable["&-q10_ret_12"] <= -0.03).sum())
        for trade in (t for t in trades if t["pair"] == pair):
            signal = pd.Timestamp(trade["open_date"]) - pd.Timedelta(hours=1)
            assert usable.loc[signal, "&-q10_ret_12"] > -0.03  # the lower end cleared it
            vol = np.sqrt(np.exp(usable.loc[signal, "&-logvar_12"]) * 12)
            multiples.append(min(0.5, 0.01 / vol))  # target 0.01, capped at half the stake
            # freqtrade proposes 100 and rounds the amount to the market's precision
            assert trade["stake_amount"] == pytest.approx(100 * multiples[-1], rel=1e-3)
    assert refused > 0  # usable candles whose interval did not clear the hurdle
    assert min(multiples) < 0.5 and max(multiples) <= 0.5  # sized by volatility, and capped
    subs = sorted(run.models.glob("sub-train-*"))
    assert len(subs) >= 2
    for sub in subs:  # every model started from HAR
        model = SequenceModel.load(next(sub.glob("*_model.zip")))
        assert model.net.coef.abs().sum() > 0
        assert [c.label for c in model.variance_calibration] == ["&-logvar_12"]


@pytest.mark.integration
def test_validate_scores_the_intervals_volatility_and_costs_of_a_real_run(
        interval_run, tmp_path: Path) -> None:
    result = run_cli("validate", "--models", str(interval_run.models), "--bootstrap", "50",
                     "--no-models", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for line in ("90% interval of the 12-candle return (&-q05_ret_12, &-q95_ret_12)",
                 "80% interval of the 12-candle return (&-q10_ret_12, &-q90_ret_12)",
                 "volatility forecast &-logvar_12", "QLIKE model minus: trailing",
                 "after fees, h=12"):
        assert line in result.stdout, result.stdout[-3000:]
    report = json.loads((tmp_path / "validation.json").read_text())
    (eighty,) = [i for i in report["intervals"]["backtest"] if i["coverage"] == 0.8]
    pooled = eighty["pooled"]
    assert pooled["rows"] > 400 and 0 < pooled["model"]["coverage"]["value"] < 1
    assert set(pooled) >= {"model", "trailing", "ewma", "model-trailing", "model-ewma"}
    assert set(eighty["per_volatility_tercile"]) == {"low", "mid", "high"}
    costs = report["costs"]["backtest"][0]
    assert costs["zero"]["total_return"] == 0.0 and costs["round_trip_fee"] > 0
    returns = pd.read_csv(tmp_path / "returns" / "BTC_USD.csv")
    assert {"after_fee_return_model", "position_persistence"} <= set(returns.columns)
    page = (tmp_path / "validation.html").read_text()
    assert "coverage of the 80% interval" in page and "Cumulative after-fee return" in page
    assert "<th>measure</th>" in page  # temporal consistency as a table, not a JSON dump


@pytest.mark.integration
def test_the_other_strategies_trade_the_interval_runs_predictions_without_training(
        interval_run, market, market_dir: Path) -> None:
    """What `freqai-seq intervals` does: the fixed-stake and threshold strategies trade the same
    identifier's predictions. Their labels are among the recorded ones, so the run fingerprint
    lets FreqAI reuse the files: nothing trains."""
    base = interval_run.userdir.parent
    fixed = next(base.parent.glob("interval-strategy*/fixed-stake.json"))
    for strategy in ("FreqaiSeqIntervalFixedStakeStrategy", "FreqaiSeqStrategy"):
        result = run_cli(
            "backtest", "-c", "config.json", "-c", str(base / "test-overlay.json"), "--model",
            "PyTorchLSTMRegressor", "--strategy", strategy, "--training-params",
            str(base / "params.json"), "--timerange", INTEGRATION_TIMERANGE, "--identifier",
            interval_run.identifier, "--userdir", str(interval_run.userdir), "--port",
            str(market.port), "--state-file", str(market_dir / "market.json"), "--datadir",
            market.datadir, "--", "-c", str(fixed))
        log = result.stdout + result.stderr
        assert result.returncode == 0, log[-3000:]
        assert "Found backtesting prediction file" in log and "Done training" not in log
        assert "BACKTESTING REPORT" in log
