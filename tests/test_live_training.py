"""Live retraining in worker processes (`live_training_workers`): the network a worker trains
equals the in-process one, weight for weight; the bot-level behaviour (pairs trained at once
while the bot keeps predicting) is tested with a real dry-run in tests/test_dryrun_workers.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.freqaimodels import PyTorchLSTMRegressor
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.model.live_training import LiveTrainingPool
from tests.seqkit import make_config, predict, synthetic_frame, train

# dropout and noise augmentation: the training draws from torch's global RNG and from the
# batch-order generator, so both must reach the worker in the state the bot's process has
PARAMS = {"epochs": 3, "dropout": 0.2, "augment_noise": 0.05, "seed": 11}


def test_a_network_trained_in_a_worker_process_equals_the_in_process_one(
        tmp_path: Path) -> None:
    frame = synthetic_frame(500)
    here, dk = train(PyTorchLSTMRegressor, make_config(tmp_path / "a", **PARAMS), frame)
    expected = predict(here, dk, frame.iloc[400:])[0]

    pool = LiveTrainingPool(1)
    try:
        regressor = PyTorchLSTMRegressor(config=make_config(tmp_path / "b", **PARAMS))
        regressor.live_pool = pool
        trained: dict = {}

        def job() -> None:
            trained["model"], trained["dk"] = train_with(regressor, frame)

        pool.run_locked(job)
    finally:
        pool.shutdown()
    model = trained["model"]
    assert model.train_result.epochs_run == 3 and len(model.train_result.history) == 3
    for name, tensor in here.model.net.state_dict().items():
        assert torch.equal(tensor, model.net.state_dict()[name]), name
    regressor.model = model
    np.testing.assert_array_equal(predict(regressor, trained["dk"], frame.iloc[400:])[0],
                                  expected)
    assert not pool.lock.locked()


def train_with(regressor: PyTorchLSTMRegressor, frame):
    """seqkit.train's steps on a regressor built beforehand (it holds the pool)."""
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
    from freqtrade.freqai.utils import get_tb_logger

    dk = FreqaiDataKitchen(regressor.config, live=False, pair="BTC/USD")
    dk.find_features(frame)
    dk.find_labels(frame)
    regressor.tb_logger = get_tb_logger("pytorch", dk.data_path, False)
    return regressor.train(frame, "BTC/USD", dk), dk


def test_live_training_workers_must_be_at_least_one() -> None:
    with pytest.raises(FreqaiSeqError, match="live_training_workers must be at least 1"):
        SequenceConfig.from_params({"live_training_workers": 0})
