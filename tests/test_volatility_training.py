"""Volatility training options: the log-variance label (`&-logvar_<h>`) with its QLIKE-optimal
calibration offset, and the HAR-RV baseline the network learns the residual of
(`volatility_baseline: "har"`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.freqaimodels import PyTorchLSTMRegressor
from freqai_seq.labels import volatility_labels
from freqai_seq.model.har import HAR_FEATURES, add_har_features
from freqai_seq.model.networks import build_network
from freqai_seq.model.networks.volatility_baseline import (
    VolatilityBaseline,
    with_volatility_baseline,
)
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.model.volatility_forecast import calibrate_variance, forecast_variance
from freqai_seq.strategy.targets import forward_log_variance, forward_volatility
from tests.seqkit import make_config, predict_frame, train

N_TRAIN, N_TEST = 2000, 600
NOISE = 0.5  # std of the realized log variance around the true one


def log_variance_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """True log variance = -7 + 0.8 h1 + 0.3 h2 of the HAR-named inputs; the label is it plus
    N(0, NOISE) noise, so the QLIKE-optimal offset over the mean log is NOISE^2 / 2."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(3, n))
    true = -7 + 0.8 * h[0] + 0.3 * h[1]
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC"),
                          **dict(zip(HAR_FEATURES, h, strict=True)),
                          "%-other": rng.normal(size=n),
                          "&-logvar_4": true + rng.normal(scale=NOISE, size=n)})
    return frame.assign(true=true)


@pytest.fixture(scope="module")
def har_trained(tmp_path_factory: pytest.TempPathFactory):
    frame = log_variance_frame(N_TRAIN + N_TEST)
    config = make_config(tmp_path_factory.mktemp("har"), volatility_baseline="har", epochs=5)
    regressor, dk = train(PyTorchLSTMRegressor, config,
                          frame.iloc[:N_TRAIN].drop(columns="true"))
    return regressor, dk, frame


def test_har_baseline_forecasts_log_variance_with_the_qlike_optimal_offset(har_trained) -> None:
    regressor, dk, frame = har_trained
    assert isinstance(regressor.model.net, VolatilityBaseline)
    assert regressor.model.net.coef.abs().sum() > 0  # fitted on the training rows
    (offset,) = regressor.model.variance_calibration
    assert offset.label == "&-logvar_4" and offset.rows > 200
    assert offset.offset == pytest.approx(NOISE**2 / 2, abs=0.06)
    pred, do_predict = predict_frame(regressor, dk, frame.drop(columns="true"))
    rows = (np.arange(len(frame)) >= N_TRAIN) & (do_predict == 1)
    error = pred.loc[rows, "&-logvar_4"].to_numpy() - frame.loc[rows, "true"].to_numpy()
    # the forecast is the true log variance plus the offset, up to estimation noise (0.01)
    assert np.mean(error) == pytest.approx(NOISE**2 / 2, abs=0.08)
    # (without the baseline, 5 epochs leave a spread of about 0.1)
    assert np.std(error) < 0.04, np.std(error)


def test_har_coefficients_and_variance_offset_survive_save_and_load(har_trained,
                                                                    tmp_path: Path) -> None:
    model = har_trained[0].model
    model.save(tmp_path / "m.zip")
    loaded = SequenceModel.load(tmp_path / "m.zip")
    assert torch.equal(loaded.net.coef, model.net.coef)
    assert loaded.variance_calibration == model.variance_calibration


def test_the_baseline_is_least_squares_on_the_newest_candle_added_to_the_network() -> None:
    rng = np.random.default_rng(1)
    base = build_network("lstm", 5, 3, {"hidden_size": 8, "num_layers": 1, "dropout": 0.0,
                                        "bidirectional": False, "layer_norm": True,
                                        "head_hidden": 8})
    net = VolatilityBaseline(base, [1, 3], [2])
    features = rng.normal(size=(500, 2))
    targets = 0.5 + features @ np.array([[2.0], [-1.0]]) + rng.normal(scale=0.01, size=(500, 1))
    assert net.fit(features, targets) == 500
    assert net.coef.numpy() == pytest.approx(np.array([[0.5, 2.0, -1.0]]), abs=0.01)
    x = torch.randn(4, 6, 5)
    with torch.no_grad():
        added = net(x) - base(x)
    expected = net.coef[0, 0] + x[:, -1, [1, 3]] @ net.coef[0, 1:]
    assert torch.allclose(added[:, 2], expected, atol=1e-6)
    assert torch.equal(added[:, :2], torch.zeros(4, 2))  # other outputs untouched
    assert net.fit(features[:20], targets[:20]) == 0  # too few rows: no baseline, logged
    assert net.coef.abs().sum() == 0


def test_har_baseline_refuses_missing_features_or_volatility_labels() -> None:
    net = torch.nn.Linear(1, 1)
    with pytest.raises(FreqaiSeqError, match="add_har_features"):
        with_volatility_baseline(net, ["%-a", HAR_FEATURES[0]], [0])
    with pytest.raises(FreqaiSeqError, match="needs a volatility label"):
        with_volatility_baseline(net, list(HAR_FEATURES), [])


def test_log_variance_label_offset_and_variances_by_hand() -> None:
    close = pd.Series([100.0, 101, 99, 99, 99, 99, 102, 103])
    logvar = forward_log_variance(close, 2)
    assert logvar[0] == pytest.approx(np.log(forward_volatility(close, 2)[0] ** 2))
    assert np.isnan(logvar[2])  # the next two candles are flat: no log variance
    predicted = pd.DataFrame({"&-logvar_2": [0.0, 0.0, 0.0, np.nan]})
    truth = pd.DataFrame({"&-logvar_2": np.log([1.0, 2.0, 6.0, 5.0])})
    (c,) = calibrate_variance(predicted, truth, ["&-logvar_2"])
    assert (c.offset, c.rows) == (pytest.approx(math.log(3.0)), 3)  # log of mean(1, 2, 6)
    assert forecast_variance("&-logvar_2", np.log([4.0])) == pytest.approx([4.0])
    assert forecast_variance("&-vol_2", np.array([0.1, -0.1])) == pytest.approx([0.01, -0.01])
    assert volatility_labels(["&-ret_12", "&-vol_12", "&-logvar_12", "&-logvar_4"]) == [
        (4, "&-logvar_4"), (12, "&-logvar_12"), (12, "&-vol_12")]


def test_har_features_are_log_mean_squared_returns_of_the_last_day_week_month() -> None:
    close = pd.Series(np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.01, 2000))))
    frame = add_har_features(pd.DataFrame({"close": close}), candles_per_day=24)
    squared = np.log(close).diff() ** 2
    t = 1500
    for name, days in zip(HAR_FEATURES, (1, 7, 30), strict=True):
        assert frame[name][t] == pytest.approx(np.log(squared[t - 24 * days + 1:t + 1].mean()))
    assert frame[HAR_FEATURES[2]][:359].isna().all()  # a month needs half a month of returns
