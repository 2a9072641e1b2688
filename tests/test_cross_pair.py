"""Cross-pair training (`cross_pair: true`): one network per window learns from every pair.

Unit tests drive the real regressor, FreqAI's data kitchen and pipelines on synthetic multi-pair
frames (tests/crosskit.py); the integration test runs real `freqtrade backtesting` on 3 bundled
pairs; tests/test_dryrun_cross.py covers the live path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from freqtrade.exceptions import OperationalException
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.freqaimodels import (
    LightGBMCrossPairRegressor,
    LSTMLightGBMEnsembleRegressor,
    PyTorchCNNLSTMAttentionRegressor,
    PyTorchGRURegressor,
    PyTorchLSTMRegressor,
)
from freqai_seq.model.cross_pair.columns import align_scaled, aligned_names, check_same_features
from freqai_seq.model.cross_pair.store import SharedNetworks
from freqai_seq.model.drawer import CrashSafeDataDrawer
from freqai_seq.model.sequence_model import SequenceModel
from tests.conftest import BacktestRun
from tests.crosskit import CORR, cross_config, pair_frames, train_window
from tests.seqkit import predict

PAIRS = [f"P{i}/USD" for i in range(8)]
N_TRAIN, N_TEST = 504, 300  # 21 days: the window ends at midnight
STOP = (pd.Timestamp("2021-01-01") + pd.Timedelta(hours=N_TRAIN)).strftime("%Y%m%d")
# R² on the held-out rows of one pair: the shared rule is found with 8 pairs' windows (0.24 at
# this seed) and not with one pair's (below 0).
CROSS_R2_MIN, PER_PAIR_R2_MAX = 0.15, 0.05
UNSEEN_R2_MIN = 0.1  # a pair never trained on (0.14 at this seed; a trained pair 0.21)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return pair_frames(PAIRS, N_TRAIN + N_TEST, seed=1)


def held_out_r2(regressor, dk, frame: pd.DataFrame) -> float:
    pred, do_predict = predict(regressor, dk, frame)
    rows = ((frame["date"] >= pd.Timestamp(STOP, tz="UTC")).to_numpy() & (do_predict == 1)
            & np.isfinite(frame["&-target"].to_numpy()))
    truth = frame["&-target"].to_numpy()[rows]
    return float(1 - np.mean((truth - pred[rows]) ** 2) / np.var(truth))


@pytest.fixture(scope="module")
def shared(frames, tmp_path_factory: pytest.TempPathFactory):
    """P1's model of the window, which trains the shared network (embedding on)."""
    config = cross_config(tmp_path_factory.mktemp("cross"), PAIRS, pair_embedding_dim=4)
    regressor, dk = train_window(PyTorchLSTMRegressor, config, frames, "P1/USD", STOP)
    return config, regressor, dk


# ------------------------------------------------------------------ columns
def test_corr_pair_block_is_filled_from_its_own_columns() -> None:
    own = ["%-rsi_BTC/USD_1h", "%-hour"]
    other = ["%-rsi_ETH/USD_1h", "%-hour", "%-rsi_BTC/USD_1h"]
    canonical = check_same_features({"BTC/USD": own, "ETH/USD": other}, ["BTC/USD"])
    assert canonical == aligned_names(other, "ETH/USD", ["BTC/USD"])
    assert canonical == ["%-hour", "%-rsi_<pair>_1h", "%-rsi_BTC/USD_1h"]
    btc = pd.DataFrame({"%-rsi_BTC/USD_1h": [0.5], "%-hour": [0.25]})
    assert align_scaled(btc, "BTC/USD", canonical, ["BTC/USD"]).tolist() == [[0.25, 0.5, 0.5]]
    # A column the pair's pipeline dropped (zero variance in the window) is 0 for that pair.
    eth = pd.DataFrame({"%-rsi_ETH/USD_1h": [0.25], "%-rsi_BTC/USD_1h": [0.75]})
    assert align_scaled(eth, "ETH/USD", canonical, ["BTC/USD"]).tolist() == [[0.0, 0.25, 0.75]]


def test_pairs_with_different_features_are_refused_with_the_columns_named() -> None:
    with pytest.raises(FreqaiSeqError, match=r"ETH/USD .* only ETH/USD has \['%-mfi_<pair>_1h'"):
        check_same_features({"BTC/USD": ["%-rsi_BTC/USD_1h"],
                             "ETH/USD": ["%-rsi_ETH/USD_1h", "%-mfi_ETH/USD_1h"]}, [])


# ------------------------------------------------------------------ learning
def test_cross_pair_learns_a_shared_rule_that_one_pair_cannot(frames, shared,
                                                              tmp_path: Path) -> None:
    _, regressor, dk = shared
    assert held_out_r2(regressor, dk, frames["P1/USD"]) > CROSS_R2_MIN
    per_pair = cross_config(tmp_path, PAIRS, cross_pair=False)
    alone, dk_alone = train_window(PyTorchLSTMRegressor, per_pair, frames, "P1/USD", STOP)
    assert held_out_r2(alone, dk_alone, frames["P1/USD"]) < PER_PAIR_R2_MAX


@pytest.mark.parametrize("model_cls", [PyTorchGRURegressor, PyTorchCNNLSTMAttentionRegressor,
                                       LSTMLightGBMEnsembleRegressor],
                         ids=["gru", "hybrid", "ensemble"])
def test_every_sequence_network_trains_cross_pair(model_cls, frames, tmp_path: Path) -> None:
    extra = ({"pool_horizons": [2, 4, 8], "attention_dim": 16, "attention_heads": 2,
              "conv_channels": 8} if model_cls is PyTorchCNNLSTMAttentionRegressor else {})
    config = cross_config(tmp_path, PAIRS, epochs=3, **extra)
    regressor, dk = train_window(model_cls, config, frames, "P2/USD", STOP)
    assert regressor.model.cross.pairs == tuple(PAIRS)
    pred, do_predict = predict(regressor, dk, frames["P2/USD"].iloc[N_TRAIN:])
    assert do_predict.all() and np.isfinite(pred).all()


def test_the_cross_pair_ensemble_splits_each_pair_in_time(frames, tmp_path: Path) -> None:
    config = cross_config(tmp_path, PAIRS, epochs=3, pair_embedding_dim=2)
    regressor, _ = train_window(LSTMLightGBMEnsembleRegressor, config, frames, "P2/USD", STOP)
    info, embargo_ns = regressor.model.train_info, 12 * 3_600_000_000_000
    # every pair's base | inner | embargo | stack, pooled: 8 pairs' stacking tails
    assert info["base_last_ns"] + embargo_ns < info["inner_first_ns"]
    assert info["inner_last_ns"] + embargo_ns < info["stack_first_ns"]
    assert info["stack_rows"] > 8 * 24


# ------------------------------------------------------------------ one network per window
def test_the_window_trains_once_and_every_other_pair_reuses_it(
        frames, shared, caplog: pytest.LogCaptureFixture) -> None:
    config, regressor, _ = shared
    store = SharedNetworks(Path(config["user_data_dir"]) / "models" / "unit")
    assert len(store.entries()) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for pair in ("P0/USD", "P5/USD"):
            train_window(PyTorchLSTMRegressor, config, frames, pair, STOP, regressor)
    assert "training the shared network" not in caplog.text
    assert caplog.text.count("reuses the shared network") == 2
    assert len(store.entries()) == 1


def test_predictions_do_not_depend_on_which_pair_came_first(frames, shared,
                                                            tmp_path: Path) -> None:
    config, regressor, _ = shared
    other = cross_config(tmp_path, list(reversed(PAIRS)), pair_embedding_dim=4)
    first_p6, _ = train_window(PyTorchLSTMRegressor, other, frames, "P6/USD", STOP)
    p3_here, dk_here = train_window(PyTorchLSTMRegressor, config, frames, "P3/USD", STOP,
                                    regressor)
    p3_there, dk_there = train_window(PyTorchLSTMRegressor, other, frames, "P3/USD", STOP,
                                      first_p6)
    rows = frames["P3/USD"].iloc[N_TRAIN:]
    np.testing.assert_array_equal(predict(p3_here, dk_here, rows)[0],
                                  predict(p3_there, dk_there, rows)[0])


def test_a_changed_config_or_feature_list_trains_a_new_network(frames, tmp_path: Path,
                                                               caplog) -> None:
    config = cross_config(tmp_path, PAIRS, epochs=2)
    store = SharedNetworks(Path(config["user_data_dir"]) / "models" / "unit")
    train_window(PyTorchLSTMRegressor, config, frames, "P1/USD", STOP)
    changed = cross_config(tmp_path, PAIRS, epochs=3)
    fewer = {p: f.drop(columns=[c for c in f if c.startswith("%-d11_")])
             for p, f in frames.items()}
    caplog.clear()
    with caplog.at_level(logging.INFO):
        train_window(PyTorchLSTMRegressor, changed, frames, "P1/USD", STOP)
        train_window(PyTorchLSTMRegressor, config, fewer, "P1/USD", STOP)
    assert caplog.text.count("training the shared network") == 2
    assert "reuses" not in caplog.text
    assert len(store.entries()) == 3
    assert [p.name for p in store.purge(keep=1)] == []  # one network per key: nothing older


def test_freqai_purge_keeps_the_newest_networks_of_each_key(tmp_path: Path) -> None:
    config = cross_config(tmp_path, PAIRS)
    config["freqai"]["purge_old_models"] = 2
    drawer = CrashSafeDataDrawer(tmp_path / "models" / "unit", config)
    store = SharedNetworks(tmp_path / "models" / "unit")
    store.folder.mkdir(parents=True)
    for key, stop in (("a" * 16, 100), ("a" * 16, 200), ("a" * 16, 300), ("b" * 16, 100)):
        store.path(key, stop).write_bytes(b"x")
    drawer.purge_old_models()  # what FreqAI calls after each live training
    assert {p.name for _, _, p in store.entries()} == {
        f"{'a' * 16}_200.pt", f"{'a' * 16}_300.pt", f"{'b' * 16}_100.pt"}


# ------------------------------------------------------------------ unseen pairs, parity
def test_a_pair_left_out_of_training_predicts_through_the_trained_unseen_slot(
        frames, tmp_path: Path) -> None:
    config = cross_config(tmp_path, PAIRS[:-1], pair_embedding_dim=4)  # P7 not whitelisted
    p1, _ = train_window(PyTorchLSTMRegressor, config, frames, "P1/USD", STOP)
    assert p1.model.cross.pairs == tuple(PAIRS[:-1])
    # P7's scaling: its own FreqAI pipelines, fitted on its own candles of the window.
    dk7 = FreqaiDataKitchen(config, live=False, pair="P7/USD")
    frame = dk7.slice_dataframe(p1.training_timerange, frames["P7/USD"])
    dk7.find_features(frame)
    dk7.find_labels(frame)
    prepared = p1.prepare(frame, "P7/USD", dk7)
    p1.model = p1.model.for_pair("P7/USD", prepared.tail)
    assert p1.model.cross.pair_id == p1.model.net.unseen_id == len(PAIRS) - 1
    assert held_out_r2(p1, dk7, frames["P7/USD"]) > UNSEEN_R2_MIN


def test_cross_pair_pairs_keeps_the_network_whatever_the_whitelist(frames, shared,
                                                                   tmp_path: Path) -> None:
    """freqtrade's lookahead cut runs (and a dynamic pairlist) leave one pair in the whitelist:
    with the pair set pinned, that pair still gets the network of all pairs, weight for
    weight."""
    config = shared[0]
    full, full_dk = train_window(PyTorchLSTMRegressor, config, frames, "P1/USD", STOP)  # stored
    pinned = cross_config(tmp_path, ["P1/USD"], pair_embedding_dim=4,
                          cross_pair_pairs=list(reversed(PAIRS)))
    one, dk = train_window(PyTorchLSTMRegressor, pinned, frames, "P1/USD", STOP)
    assert one.model.cross.pairs == tuple(PAIRS)
    for a, b in zip(one.model.net.state_dict().values(), full.model.net.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(predict(one, dk, frames["P1/USD"])[0],
                                  predict(full, full_dk, frames["P1/USD"])[0])


@pytest.mark.parametrize(("params", "message"), [
    ({"cross_pair": False, "cross_pair_pairs": ["BTC/USD"]}, "cross_pair_pairs needs cross_pair"),
    ({"cross_pair": True, "cross_pair_pairs": ["BTC/USD", "BTC/USD"]}, "distinct pair names"),
    ({"cross_pair": True, "cross_pair_pairs": ["BTCUSD"]}, "distinct pair names"),
    ({"cross_pair": True, "cross_pair_pairs": "BTC/USD"}, "must be a list of str"),
])
def test_a_bad_cross_pair_pairs_is_refused(tmp_path: Path, params: dict, message: str) -> None:
    with pytest.raises(OperationalException, match=message):
        PyTorchLSTMRegressor(config=cross_config(tmp_path, PAIRS, **params))


def test_a_new_listing_joins_with_the_rows_it_has(frames, tmp_path: Path) -> None:
    """P7 is listed 6 candles before the window ends: too few rows for one training window,
    so the network is trained without it, and P7 still gets a model (its scaling from those 6
    rows) that predicts once it has a full window."""
    listed = pd.Timestamp(STOP, tz="UTC") - pd.Timedelta(hours=6)
    young = {**frames, "P7/USD": frames["P7/USD"][frames["P7/USD"]["date"] >= listed]}
    config = cross_config(tmp_path, PAIRS, pair_embedding_dim=4)
    p1, _ = train_window(PyTorchLSTMRegressor, config, young, "P1/USD", STOP)
    assert p1.model.cross.pairs == tuple(PAIRS[:-1])
    p7, dk7 = train_window(PyTorchLSTMRegressor, config, young, "P7/USD", STOP, p1)
    assert p7.model.cross.pair_id == p7.model.net.unseen_id  # reused, not retrained
    pred, do_predict = predict(p7, dk7, young["P7/USD"])
    window = p7.seq_cfg.window
    assert do_predict[window - 1:].all() and np.isfinite(pred[window - 1:]).all()


def test_backtest_prediction_equals_live_prediction_ending_at_t(frames, shared) -> None:
    config, regressor, _ = shared
    regressor, dk = train_window(PyTorchLSTMRegressor, config, frames, CORR, STOP, regressor)
    frame = frames[CORR]
    pred, _ = predict(regressor, dk, frame.iloc[N_TRAIN:].reset_index(drop=True))
    for t in (0, 5, 50, N_TEST - 1):
        end = N_TRAIN + t
        live_pred, live_do = predict(regressor, dk,
                                     frame.iloc[end + 1 - regressor.CONV_WIDTH:end + 1])
        assert live_do[-1] == 1
        assert live_pred[-1] == pytest.approx(pred[t], rel=1e-5, abs=1e-7), t


def test_a_saved_pair_model_loads_with_its_binding(shared, tmp_path: Path) -> None:
    _, regressor, _ = shared
    model = regressor.model.for_pair("P1/USD", regressor.model.tail)
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = SequenceModel.load(path)
    assert loaded.cross == model.cross and loaded.cross.pair == "P1/USD"
    assert loaded.cross.pair_id == PAIRS.index("P1/USD")


# ------------------------------------------------------------------ real freqtrade
INTEGRATION_PAIRS = ["BTC/USD", "ETH/USD", "LTC/USD"]
TINY_CROSS = {"window": 12, "hidden_size": 16, "epochs": 2, "cross_pair": True,
              "pair_embedding_dim": 2}


def test_real_backtest_trains_one_network_per_window_for_three_pairs(
        backtest: Callable[..., BacktestRun]) -> None:
    run = backtest("cross-lstm", "PyTorchLSTMRegressor", TINY_CROSS, INTEGRATION_PAIRS)
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    log = run.result.stdout + run.result.stderr
    windows = 2
    assert log.count("cross-pair: training the shared network") == windows
    # The other pairs' models and pipelines were saved in FreqAI's layout by that training:
    # FreqAI loads them instead of training (only the first pair of each window trains).
    assert log.count("Starting training") == windows
    assert log.count("saved the models and pipelines of 2 other pair(s)") == windows
    assert "reuses the shared network" not in log
    assert "left out of the shared network" not in log
    assert len(SharedNetworks(run.models).entries()) == windows
    for coin in ("BTC", "ETH", "LTC"):
        subs = sorted(run.models.glob(f"sub-train-{coin}_*"))
        assert len(subs) == windows
        for sub in subs:  # FreqAI's per-pair artefacts, as for a per-pair model
            assert len(list(sub.glob("*_feature_pipeline.pkl"))) == 1
            assert len(list(sub.glob("*_metadata.json"))) == 1
            model = SequenceModel.load(next(sub.glob("*_model.zip")))
            assert model.cross.pair == f"{coin}/USD"
            assert model.cross.pairs == tuple(INTEGRATION_PAIRS)
        predictions = [pd.read_feather(p) for p in
                       (run.models / "backtesting_predictions").glob(f"cb_{coin.lower()}_*")]
        assert len(predictions) == windows
        assert all(p["do_predict"].mean() > 0.9 for p in predictions)


def test_pooled_lightgbm_baseline_fits_once_per_window_and_predicts_every_pair(
        frames, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = cross_config(tmp_path, PAIRS)
    config["freqai"]["model_training_parameters"] = {"n_estimators": 60, "num_leaves": 15,
                                                     "random_state": 1, "verbosity": -1}
    caplog.clear()
    with caplog.at_level(logging.INFO):
        first, _ = train_window(LightGBMCrossPairRegressor, config, frames, "P1/USD", STOP)
        second, dk2 = train_window(LightGBMCrossPairRegressor, config, frames, "P4/USD", STOP,
                                   first)
    assert caplog.text.count("training the pooled LightGBM") == 1
    assert caplog.text.count("reuses the shared network") == 1
    assert second.model.pair == "P4/USD"
    [(_, _, stored)] = SharedNetworks(Path(config["user_data_dir"]) / "models"
                                      / "unit").entries()
    assert stored.suffix == ".pkl"
    # FreqAI's own LightGBMRegressor.predict, on P4's rows scaled by P4's pipelines.
    pred, _ = second.predict(frames["P4/USD"].iloc[N_TRAIN:].reset_index(drop=True),
                                      dk2)
    assert len(pred) == N_TEST and np.isfinite(pred.to_numpy()).all()
