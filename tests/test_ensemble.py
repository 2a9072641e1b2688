"""LSTMLightGBMEnsembleRegressor: the stacking meta-model, its held-out rows, the agreement
columns, bad configuration, and a real freqtrade backtest. (Parity, save/load and seed
reproducibility run in test_sequence_models.py with the other models.)"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from freqtrade.exceptions import OperationalException

from freqai_seq.freqaimodels import LSTMLightGBMEnsembleRegressor
from freqai_seq.model.ensemble.model import EnsembleModel
from freqai_seq.model.ensemble.stacking import fit_stack
from freqai_seq.model.tasks import parse_labels
from tests.conftest import BacktestRun
from tests.seqkit import make_config, predict_frame, synthetic_frame, train

HOUR_NS = 3_600_000_000_000


def test_a_pure_noise_base_gets_no_weight() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=2000)
    informative = target + rng.normal(0, 0.3, 2000)
    noise = rng.normal(size=2000)
    weights = fit_stack(np.column_stack([informative, noise]), target)
    assert weights[0] == pytest.approx(1 / 1.09, abs=0.05)  # least squares shrinks by 1/(1+0.09)
    assert abs(weights[1]) < 0.03
    anti = fit_stack(np.column_stack([informative, -target]), target)  # never a negative weight
    assert (anti[:2] >= 0).all()


def test_shrinkage_and_cap_keep_an_amplified_base_in_check() -> None:
    """A base whose forecasts are a fifth of the target gets a weight near 5 from plain least
    squares; the cap bounds it, and growing shrinkage moves both weights to 1/2."""
    rng = np.random.default_rng(1)
    target = rng.normal(size=130)
    damped = target / 5 + rng.normal(0, 0.05, 130)
    other = rng.normal(0, 0.2, 130)
    bases = np.column_stack([damped, other])
    assert fit_stack(bases, target)[0] > 4
    assert fit_stack(bases, target, max_weight=1.0)[0] == pytest.approx(1.0)
    weights = [fit_stack(bases, target, shrinkage=s)[:2] for s in (0.1, 1.0, 1000.0)]
    assert weights[0][0] > weights[1][0] > weights[2][0]
    np.testing.assert_allclose(weights[2], [0.5, 0.5], atol=0.02)
    # a base that is constant on the stacking rows (a LightGBM with a single leaf) is
    # collinear with the intercept: shrinkage holds it at 1/2 instead of letting both explode
    flat = np.column_stack([damped, 0.3 + 1e-17 * rng.normal(size=130)])
    assert fit_stack(flat, target, shrinkage=0.1)[1] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory):
    frame = synthetic_frame(1400)
    frame["&-agree_target"] = 0.0
    # Plain least squares: the weights then say which base carries the signal (the default
    # shrinkage pulls a blind base towards 1/2: test_shrinkage_and_cap_...).
    config = make_config(tmp_path_factory.mktemp("ens"), lightgbm={"n_estimators": 100},
                         ensemble_stack_shrinkage=0.0)
    regressor, dk = train(LSTMLightGBMEnsembleRegressor, config, frame.iloc[:1200])
    return frame, regressor, dk


def test_lightgbm_blind_to_the_lags_gets_almost_no_weight(ensemble) -> None:
    """The target needs inputs 3 and 5 candles back; LightGBM sees the newest row and window
    means and spreads, the network the whole window: the stack leans on the network."""
    frame, regressor, dk = ensemble
    network_w, lightgbm_w, _ = regressor.model.stack[0]
    assert network_w > 0.8 and lightgbm_w < 0.2, regressor.model.stack
    pred, do_predict = predict_frame(regressor, dk, frame.iloc[1200:])
    truth = frame["&-target"].to_numpy()[1200:]
    usable = do_predict == 1
    r2 = 1 - np.mean((pred["&-target"].to_numpy()[usable] - truth[usable]) ** 2) / np.var(truth)
    assert r2 > 0.8


def test_meta_model_rows_come_after_every_base_row_and_an_embargo(ensemble) -> None:
    _, regressor, _ = ensemble
    info = regressor.model.train_info
    embargo = info["embargo_candles"] * HOUR_NS
    assert info["embargo_candles"] == 12  # label_period_candles of config.json
    assert info["base_last_ns"] + embargo < info["inner_first_ns"]
    assert info["inner_last_ns"] + embargo < info["stack_first_ns"]
    assert info["stack_rows"] >= 24


def test_agreement_column_and_optional_do_predict_rule(ensemble, tmp_path: Path) -> None:
    frame, regressor, dk = ensemble
    pred, do_predict, bases = regressor.predict_with_bases(
        frame.iloc[1200:].reset_index(drop=True), dk)
    net_out, boosted = bases.net, bases.boosted
    layout = parse_labels(list(dk.label_list))
    net = regressor.to_label_units(net_out, layout, dk)["&-target"].to_numpy()
    gbm = regressor.to_label_units(boosted, layout, dk)["&-target"].to_numpy()
    agree = pred["&-agree_target"].to_numpy()
    prepended = len(net) - len(agree)
    np.testing.assert_array_equal(agree, (np.sign(net) == np.sign(gbm))[prepended:])
    assert 0 < agree.mean() < 1  # LightGBM is weak here: the bases do disagree sometimes
    assert do_predict.all()  # the rule is off by default
    saved = regressor.ens_cfg
    regressor.ens_cfg = replace(saved, ensemble_disagreement_do_predict=True)
    try:
        _, strict = predict_frame(regressor, dk, frame.iloc[1200:])
    finally:
        regressor.ens_cfg = saved
    np.testing.assert_array_equal(strict, (agree == 1).astype(int))


def test_saved_artefact_is_one_versioned_file(ensemble, tmp_path: Path) -> None:
    _, regressor, _ = ensemble
    regressor.model.save(tmp_path / "e_model.zip")
    checkpoint = torch.load(tmp_path / "e_model.zip", weights_only=False)
    assert checkpoint["format"] == "freqai-seq/ensemble-model"
    assert checkpoint["format_version"] == 1
    loaded = checkpoint["pytrainer"].load_from_checkpoint(checkpoint)  # as FreqAI's drawer does
    assert isinstance(loaded, EnsembleModel)
    np.testing.assert_array_equal(loaded.stack, regressor.model.stack)
    assert loaded.boosters[0].model_to_string() == regressor.model.boosters[0].model_to_string()


@pytest.mark.parametrize(("params", "message"), [
    ({"network": "rnn"}, "network must be one of"),
    ({"lightgbm": 5}, "lightgbm has the wrong type"),
    ({"ensemble_validation_fraction": 0.9}, "ensemble_validation_fraction must be between"),
])
def test_bad_ensemble_config_names_the_key(tmp_path: Path, params: dict, message: str) -> None:
    with pytest.raises(OperationalException, match=message):
        LSTMLightGBMEnsembleRegressor(config=make_config(tmp_path, **params))


def test_a_test_split_too_small_for_stacking_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config["freqai"]["data_split_parameters"]["test_size"] = 0.02
    with pytest.raises(OperationalException, match=r"raise data_split_parameters\.test_size"):
        train(LSTMLightGBMEnsembleRegressor, config, synthetic_frame(1200))


def test_agree_labels_need_the_ensemble(tmp_path: Path) -> None:
    from freqai_seq.freqaimodels import PyTorchLSTMRegressor

    frame = synthetic_frame(400)
    frame["&-agree_target"] = 0.0
    with pytest.raises(OperationalException, match="filled by LSTMLightGBMEnsembleRegressor"):
        train(PyTorchLSTMRegressor, make_config(tmp_path), frame)


@pytest.mark.integration
def test_ensemble_walk_forward_backtest(backtest: Callable[..., BacktestRun]) -> None:
    params = {"window": 12, "hidden_size": 16, "epochs": 2,
              "lightgbm": {"n_estimators": 40, "n_jobs": 1}}
    run = backtest("it-ensemble", "LSTMLightGBMEnsembleRegressor", params, ["BTC/USD"])
    assert run.result.returncode == 0, run.result.stdout[-3000:]
    assert "STRATEGY SUMMARY" in run.result.stdout
    assert run.result.stdout.count("stacking weights network") == 2  # two trainings
    models = sorted(run.models.glob("sub-train-*/*_model.zip"))
    assert len(models) == 2
    checkpoint = torch.load(models[0], weights_only=False)
    assert isinstance(checkpoint["pytrainer"].load_from_checkpoint(checkpoint), EnsembleModel)


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory: pytest.TempPathFactory):
    frame = synthetic_frame(1500)
    training = frame.iloc[:1200].copy()
    # As with real forward returns, the last h training rows have no outcome yet.
    training.iloc[-12:, training.columns.get_loc("&-target")] = np.nan
    config = make_config(tmp_path_factory.mktemp("dyn"), lightgbm={"n_estimators": 100},
                         ensemble_dynamic_candles=48)
    regressor, dk = train(LSTMLightGBMEnsembleRegressor, config, training)
    backtest = frame.iloc[1200:].reset_index(drop=True)
    return frame, backtest, regressor, dk


@contextmanager
def _dynamic_candles(regressor, n: int):
    saved = regressor.ens_cfg
    regressor.ens_cfg = replace(saved, ensemble_dynamic_candles=n)
    try:
        yield
    finally:
        regressor.ens_cfg = saved


def test_dynamic_weights_use_only_outcomes_known_after_training(dynamic) -> None:
    _, backtest, regressor, dk = dynamic
    h = 12
    pred = predict_frame(regressor, dk, backtest)[0]["&-target"].to_numpy()
    with _dynamic_candles(regressor, 0):
        fixed = predict_frame(regressor, dk, backtest)[0]["&-target"].to_numpy()
    # Row r knows the errors of rows 0 .. r-h after the training: fewer than N/2 = 24 before
    # row h + 23, where the fixed stacking weights still apply.
    np.testing.assert_array_equal(pred[:h + 23], fixed[:h + 23])
    assert not np.allclose(pred[h + 23:], fixed[h + 23:])
    r = 100
    future = backtest.copy()
    future.loc[r - h + 1:, "&-target"] += 5.0  # outcomes not known at r yet
    np.testing.assert_array_equal(
        predict_frame(regressor, dk, future)[0]["&-target"].to_numpy()[:r + 1], pred[:r + 1])
    known = backtest.copy()
    known.loc[r - h - 5, "&-target"] += 5.0  # an outcome known at r
    assert predict_frame(regressor, dk, known)[0]["&-target"].to_numpy()[r] != pred[r]


def test_dynamic_weighting_backtest_equals_live(dynamic) -> None:
    """Live frames hold the outcomes of the last training rows (they are known by then) and
    none for the newest h rows; a backtest window holds neither the training rows nor the
    outcomes beyond it. Both must give the same forecast."""
    frame, backtest, regressor, dk = dynamic
    h, width = 12, regressor.CONV_WIDTH
    assert width == 8 + 48 + h - 1
    pred = predict_frame(regressor, dk, backtest)[0]["&-target"].to_numpy()
    for t in (0, h - 1, h, 30, h + 23, 40, 70, 100, 250):
        end = 1200 + t
        live = frame.iloc[end + 1 - width:end + 1].copy()
        live.iloc[-h:, live.columns.get_loc("&-target")] = np.nan  # the future is unknown live
        live_pred, live_do = predict_frame(regressor, dk, live)
        assert live_do[-1] == 1
        assert live_pred["&-target"].iloc[-1] == pytest.approx(pred[t], rel=1e-5, abs=1e-7), t


def test_dynamic_weighting_needs_a_label_period(tmp_path: Path) -> None:
    config = make_config(tmp_path, ensemble_dynamic_candles=24)
    config["freqai"]["feature_parameters"]["label_period_candles"] = 0
    with pytest.raises(OperationalException, match="label_period_candles"):
        LSTMLightGBMEnsembleRegressor(config=config)


@pytest.mark.parametrize(("extra", "message"), [
    ({"&-ret_48": 0.0}, r"look further ahead than label_period_candles \(12\)"),
    ({"&-vol_4": 1.0, "&-agree_vol_4": 0.0}, "must describe a return label"),
])
def test_labels_the_ensemble_cannot_handle_are_refused(tmp_path: Path, extra: dict,
                                                       message: str) -> None:
    frame = synthetic_frame(600).assign(**extra)
    with pytest.raises(OperationalException, match=message):
        train(LSTMLightGBMEnsembleRegressor, make_config(tmp_path), frame)
