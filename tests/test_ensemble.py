"""LSTMLightGBMEnsembleRegressor: the stacking meta-model, its held-out rows, the agreement
columns, bad configuration, and a real freqtrade backtest. (Parity, save/load and seed
reproducibility run in test_sequence_models.py with the other models.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from freqtrade.exceptions import OperationalException

from freqai_models.LSTMLightGBMEnsembleRegressor import LSTMLightGBMEnsembleRegressor
from freqai_seq.ensemble.model import EnsembleModel
from freqai_seq.ensemble.stacking import fit_stack
from freqai_seq.tasks import parse_labels
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


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory):
    frame = synthetic_frame(1400)
    frame["&-agree_target"] = 0.0
    config = make_config(tmp_path_factory.mktemp("ens"), lightgbm={"n_estimators": 100})
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
    pred, do_predict = predict_frame(regressor, dk, frame.iloc[1200:])
    net_out, boosted = regressor.model.last_parts
    layout = parse_labels(list(dk.label_list))
    net = regressor.to_label_units(net_out, layout, dk)["&-target"].to_numpy()
    gbm = regressor.to_label_units(boosted, layout, dk)["&-target"].to_numpy()
    agree = pred["&-agree_target"].to_numpy()
    prepended = len(net) - len(agree)
    np.testing.assert_array_equal(agree, (np.sign(net) == np.sign(gbm))[prepended:])
    assert 0 < agree.mean() < 1  # LightGBM is weak here: the bases do disagree sometimes
    assert do_predict.all()  # the rule is off by default
    regressor.ens_cfg = regressor.ens_cfg.__class__(
        **{**regressor.ens_cfg.to_dict(), "ensemble_disagreement_do_predict": True})
    _, strict = predict_frame(regressor, dk, frame.iloc[1200:])
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
    from freqai_models.PyTorchLSTMRegressor import PyTorchLSTMRegressor

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
