"""Multi-task heads through FreqAI: return, volatility and regime labels learnt together, regime
probabilities, MC-dropout uncertainty columns, and label-name errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.exceptions import OperationalException

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.freqaimodels import PyTorchCNNLSTMAttentionRegressor, PyTorchLSTMRegressor
from freqai_seq.model.tasks import parse_labels
from tests.seqkit import make_config, predict_frame, synthetic_frame, train

HYBRID = {"pool_horizons": [2, 4, 8], "attention_dim": 16, "attention_heads": 2,
          "conv_channels": 8}
REGIME = ["&-regime_1_down", "&-regime_1_flat", "&-regime_1_up"]


def multitask_frame(n: int, seed: int = 0) -> pd.DataFrame:
    frame = synthetic_frame(n, seed)
    target = frame.pop("&-target")
    frame["&-ret_1"] = target
    frame["&-vol_4"] = 1.0 + 0.8 * frame["%-c"].shift(2)  # its own input and lag
    known = target.notna()
    frame[REGIME[0]] = (target < -0.5).astype(float).where(known)
    frame[REGIME[1]] = (target.abs() <= 0.5).astype(float).where(known)
    frame[REGIME[2]] = (target > 0.5).astype(float).where(known)
    frame["&-unc_ret_1"] = 0.0
    return frame


@pytest.mark.parametrize(("model_cls", "extra"), [(PyTorchLSTMRegressor, {}),
                                                  (PyTorchCNNLSTMAttentionRegressor, HYBRID)],
                         ids=["lstm", "cnn_lstm_attention"])
def test_every_head_learns_its_structure(tmp_path: Path, model_cls, extra: dict) -> None:
    frame = multitask_frame(1400)
    regressor, dk = train(model_cls, make_config(tmp_path, **extra), frame.iloc[:1200])
    test = frame.iloc[1200:]
    pred, do_predict = predict_frame(regressor, dk, test)
    assert do_predict.all()
    for label in ("&-ret_1", "&-vol_4"):
        truth = test[label].to_numpy()
        r2 = 1 - np.mean((pred[label].to_numpy() - truth) ** 2) / np.var(truth)
        assert r2 > 0.5, (label, r2)
    probabilities = pred[REGIME].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    accuracy = np.mean(probabilities.argmax(axis=1) == test[REGIME].to_numpy().argmax(axis=1))
    majority = test[REGIME].mean().max()
    assert accuracy > majority + 0.15, (accuracy, majority)
    assert (pred["&-unc_ret_1"] == 0).all()  # MC dropout is off by default


def test_mc_dropout_spread_is_positive_and_reproducible(tmp_path: Path) -> None:
    frame = multitask_frame(700, seed=4)
    config = make_config(tmp_path, epochs=3, dropout=0.2, mc_dropout_passes=8)
    regressor, dk = train(PyTorchLSTMRegressor, config, frame.iloc[:600])
    first, _ = predict_frame(regressor, dk, frame.iloc[600:])
    again, _ = predict_frame(regressor, dk, frame.iloc[600:])
    assert (first["&-unc_ret_1"] > 0).all()
    pd.testing.assert_frame_equal(first, again)


def test_mc_dropout_without_an_uncertainty_label_is_skipped_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = multitask_frame(700, seed=4).drop(columns="&-unc_ret_1")
    config = make_config(tmp_path, epochs=2, dropout=0.2, mc_dropout_passes=8)
    regressor, dk = train(PyTorchLSTMRegressor, config, frame.iloc[:600])
    assert "no `&-unc_*` label asks for a spread" in caplog.text
    with_passes, _ = predict_frame(regressor, dk, frame.iloc[600:])
    regressor.seq_cfg = dataclasses.replace(regressor.seq_cfg, mc_dropout_passes=0)
    without, _ = predict_frame(regressor, dk, frame.iloc[600:])
    pd.testing.assert_frame_equal(with_passes, without)


@pytest.mark.parametrize(("labels", "message"), [
    (["&-ret_1", "&-regime_1_down", "&-regime_1_up"], r"lack \['flat'\]"),
    (["&-ret_1", "&-regime_1_sideways"], "regime must be one of"),
    (["&-ret_1", "&-unc_ret_5"], "not a trained label"),
])
def test_bad_label_names_are_named(labels: list[str], message: str) -> None:
    with pytest.raises(FreqaiSeqError, match=message):
        parse_labels(labels)


def test_label_error_stops_the_training(tmp_path: Path) -> None:
    frame = synthetic_frame(300)
    frame["&-regime_1_up"] = 1.0
    with pytest.raises(OperationalException, match="Regime labels of horizon 1 lack"):
        train(PyTorchLSTMRegressor, make_config(tmp_path), frame)
