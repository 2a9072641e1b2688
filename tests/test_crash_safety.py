"""Crash safety of what the live bot writes: kill -9 in the middle of a save never leaves a file
that loads half-written, unreadable FreqAI state does not stop the bot, and a model that cannot
be loaded in live mode is retrained instead of failing every candle."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import random
import signal
import time
from pathlib import Path

import cloudpickle
import pytest
import torch
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from freqai_seq.freqaimodels import PyTorchLSTMRegressor
from freqai_seq.model.drawer import CrashSafeDataDrawer
from freqai_seq.model.sequence_model import SequenceModel
from tests.seqkit import make_config, synthetic_frame, train


def _save_forever(folder: Path, models: list[SequenceModel], dicts: list[dict]) -> None:
    """Saves two versions in turn, as the live bot saves them: the model through
    SequenceModel.save and a large pair dictionary through the drawer. Runs forked with
    everything prepared, and does no tensor maths (OpenMP does not survive a fork)."""
    drawer = CrashSafeDataDrawer(folder, {"freqai": {}})
    for i in itertools.count():
        models[i % 2].save(folder / "live_model.zip")
        drawer.pair_dict = dicts[i % 2]
        drawer.save_drawer_to_disk()
        (folder / "ready").touch()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[torch.Tensor]]:
    folder = tmp_path_factory.mktemp("crash")
    frame = synthetic_frame(600)
    firsts = []
    for name, seed in (("a", 1), ("b", 2)):
        config = make_config(folder / name, seed=seed, epochs=1, hidden_size=256, num_layers=2)
        regressor, _ = train(PyTorchLSTMRegressor, config, frame)
        regressor.model.save(folder / f"{name}_model.zip")
        firsts.append(next(iter(regressor.model.net.state_dict().values())))
    return folder, firsts


def test_kill_9_while_saving_never_leaves_a_half_written_model_or_drawer(two_models) -> None:
    folder, firsts = two_models
    rng = random.Random(0)
    models = [SequenceModel.load(folder / name) for name in ("a_model.zip", "b_model.zip")]
    dicts = [{f"P{i}/USD": {"trained_timestamp": version, "pad": "x" * 200} for i in range(5000)}
             for version in (1, 2)]
    versions_seen = set()
    for _ in range(12):
        (folder / "ready").unlink(missing_ok=True)
        # Forked, so the writer starts at once with everything imported.
        child = multiprocessing.get_context("fork").Process(target=_save_forever,
                                                          args=(folder, models, dicts))
        child.start()
        deadline = time.monotonic() + 60
        while not (folder / "ready").exists():
            assert child.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        child.kill()  # SIGKILL
        child.join()
        assert child.exitcode == -signal.SIGKILL
        # Loaded exactly as FreqAI's data drawer loads a PyTorch model.
        checkpoint = torch.load(folder / "live_model.zip", weights_only=False)
        model = checkpoint["pytrainer"].load_from_checkpoint(checkpoint)
        weights = next(iter(model.net.state_dict().values()))
        assert any(torch.equal(weights, w) for w in firsts)
        pair_dict = json.loads((folder / "pair_dictionary.json").read_text())
        stamps = {v["trained_timestamp"] for v in pair_dict.values()}
        assert len(pair_dict) == 5000 and len(stamps) == 1
        versions_seen |= stamps
    assert versions_seen == {1, 2}  # the kills landed at different points of the loop


def test_unreadable_freqai_state_is_set_aside_and_the_model_starts_fresh(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    folder = tmp_path / "models" / config["freqai"]["identifier"]
    folder.mkdir(parents=True)
    (folder / "pair_dictionary.json").write_text('{"BTC/USD": {"model_filename": "cb_btc')  # cut
    regressor = PyTorchLSTMRegressor(config=config)
    assert isinstance(regressor.dd, CrashSafeDataDrawer)
    assert regressor.dd.pair_dict == {}
    assert (folder / "pair_dictionary.json.unreadable").exists()
    regressor.dd.pair_dict = {"BTC/USD": {"model_filename": "", "trained_timestamp": 5,
                                          "data_path": "", "extras": {}}}
    regressor.dd.save_drawer_to_disk()
    assert json.loads((folder / "pair_dictionary.json").read_text())["BTC/USD"][
        "trained_timestamp"] == 5


def test_an_unloadable_live_model_is_scheduled_for_retraining(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    regressor = PyTorchLSTMRegressor(config=config)
    sub = tmp_path / "models" / "unit" / "sub-train-BTC_1"
    sub.mkdir(parents=True)
    (sub / "cb_btc_1_model.zip").write_bytes(b"truncated")
    (sub / "cb_btc_1_metadata.json").write_text(json.dumps(
        {"training_features_list": ["%-a"], "label_list": ["&-target"]}))
    for name in ("feature_pipeline", "label_pipeline"):
        (sub / f"cb_btc_1_{name}.pkl").write_bytes(cloudpickle.dumps(None))
    regressor.dd.pair_dict = {"BTC/USD": {"model_filename": "cb_btc_1", "trained_timestamp": 99,
                                          "data_path": str(sub), "extras": {}}}
    backtest_dk = FreqaiDataKitchen(config, live=False, pair="BTC/USD")
    backtest_dk.data_path, backtest_dk.model_filename = sub, "cb_btc_1"
    with pytest.raises(Exception):  # noqa: B017 - a backtest still fails loudly
        regressor.dd.load_data("BTC/USD", backtest_dk)
    live_dk = FreqaiDataKitchen(config, live=True, pair="BTC/USD")
    assert regressor.dd.load_data("BTC/USD", live_dk) is None
    assert regressor.dd.pair_dict["BTC/USD"]["trained_timestamp"] == 0  # retrain at once
    assert regressor.dd.load_data("BTC/USD", live_dk) is None  # quietly: no model yet


def test_a_model_loaded_from_disk_keeps_its_metadata_floats_exactly(tmp_path: Path) -> None:
    """FreqAI reads metadata with rapidjson's native number parse, which can be one ulp off;
    the strategy's thresholds come from these label statistics, so a loaded model (restart, a
    cross-pair pair model) must give the in-memory values exactly."""
    config = make_config(tmp_path, epochs=1)
    regressor, dk = train(PyTorchLSTMRegressor, config, synthetic_frame(300))
    dk.set_paths("BTC/USD", 1_600_000_000)
    dk.set_new_model_names("BTC/USD", 1_600_000_000)
    dk.data["labels_std"] = {"&-target": 0.0035252467764168506}  # native parse: ...685
    regressor.dd.get_pair_dict_info("BTC/USD")
    regressor.dd.save_data(regressor.model, "BTC/USD", dk)
    regressor.dd.meta_data_dictionary.clear()
    regressor.dd.model_dictionary.clear()
    loaded = FreqaiDataKitchen(config, live=False, pair="BTC/USD")
    loaded.data_path, loaded.model_filename = dk.data_path, dk.model_filename
    assert regressor.dd.load_data("BTC/USD", loaded) is not None
    assert loaded.data["labels_std"] == {"&-target": 0.0035252467764168506}
    assert loaded.data["labels_mean"] == dk.data["labels_mean"]
