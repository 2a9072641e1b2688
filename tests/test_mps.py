"""Apple GPUs (MPS): `device: auto` picks mps, then cuda, then cpu; `device: mps` is accepted;
a model trained with `device: mps` loads on the CPU of a machine without one.

No Apple hardware is available to this project: the choice is tested with torch's
availability checks patched, and the real MPS training at the end is skipped with that reason
wherever torch sees no MPS device."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model import seeding
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.model.seeding import loading_device, resolve_device
from freqai_seq.model.sequence_model import HistoryTail, SequenceModel

HOUR_NS = 3_600_000_000_000


def patch_devices(monkeypatch: pytest.MonkeyPatch, mps: bool, cuda: bool) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)


@pytest.mark.parametrize(("mps", "cuda", "chosen"), [
    (True, True, "mps"), (True, False, "mps"), (False, True, "cuda"), (False, False, "cpu")])
def test_auto_picks_mps_then_cuda_then_cpu(monkeypatch: pytest.MonkeyPatch, mps: bool,
                                          cuda: bool, chosen: str) -> None:
    patch_devices(monkeypatch, mps, cuda)
    assert resolve_device("auto").type == chosen


def test_mps_is_accepted_and_refused_clearly_where_there_is_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert SequenceConfig.from_params({"device": "mps"}).device == "mps"
    patch_devices(monkeypatch, mps=True, cuda=False)
    assert resolve_device("mps").type == "mps"
    patch_devices(monkeypatch, mps=False, cuda=False)
    with pytest.raises(FreqaiSeqError, match=r"device is 'mps' but torch sees no Apple GPU"):
        resolve_device("mps")


def _model(device: str, state_dict: dict | None = None) -> SequenceModel:
    cfg = SequenceConfig(window=4, hidden_size=8, head_hidden=8, epochs=1, device=device)
    tail = HistoryTail(np.arange(3, dtype=np.int64) * HOUR_NS,
                       pd.DataFrame(np.zeros((3, 2)), columns=["%-a", "%-b"]))
    return SequenceModel("lstm", cfg, ["%-a", "%-b"], ["&-ret_1"], HOUR_NS, tail,
                         state_dict=state_dict, device=torch.device("cpu"))


def test_a_model_trained_with_device_mps_loads_on_the_cpu(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The checkpoint holds a CPU state_dict and the configured device; without MPS the model
    comes back on the CPU, predicting the same."""
    torch.manual_seed(0)
    trained = _model("mps")
    patch_devices(monkeypatch, mps=False, cuda=False)
    assert loading_device("mps").type == "cpu"
    loaded = SequenceModel.from_checkpoint(trained.checkpoint())
    assert loaded.device.type == "cpu" and loaded.cfg.device == "mps"
    assert "trained with device 'mps'" in caplog.text
    x = np.random.default_rng(1).normal(size=(20, 2)).astype(np.float32)
    dates = np.arange(20, dtype=np.int64) * HOUR_NS
    ones = np.ones(20, bool)
    np.testing.assert_array_equal(trained.predict_rows(x, dates, ones)[0],
                                  loaded.predict_rows(x, dates, ones)[0])
    assert seeding.accelerator_available("mps") is False


@pytest.mark.skipif(not torch.backends.mps.is_available(),
                    reason="torch sees no Apple GPU (MPS): no Apple hardware is available to "
                           "this project, so MPS has not been run on hardware")
def test_training_on_mps_loads_on_cpu_with_the_same_predictions() -> None:
    from freqai_seq.model.seeding import seed_everything
    from freqai_seq.model.tasks import parse_labels
    from freqai_seq.model.training import TaskLoss, WindowedData, train_network
    from freqai_seq.model.windowing import window_ends

    device = torch.device("mps")
    model = _model("mps")
    model.net.to(device)
    model.device = device
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    y = (0.6 * x[:, 0] + 0.5 * np.roll(x[:, 0], 2)).astype(np.float32)[:, None]
    dates = np.arange(400, dtype=np.int64) * HOUR_NS
    ends = window_ends(dates, np.ones(400, bool), 4, HOUR_NS)
    data = WindowedData(torch.as_tensor(x, device=device), y, np.ones(400, np.float32),
                        torch.zeros((400, 0), device=device), ends[ends < 300],
                        ends[ends >= 300], dates, np.zeros(1, np.int64),
                        np.array([300], np.int64))
    loss = TaskLoss(parse_labels(["&-ret_1"]), 1, model.cfg, device)
    train_network(model.net, data.subset(data.train_ends, device),
                  data.subset(data.val_ends, device), model.cfg, device,
                  seed_everything(0, True), loss)
    loaded = SequenceModel.from_checkpoint(model.checkpoint())
    loaded.net.to("cpu")
    loaded.device = torch.device("cpu")
    ones = np.ones(400, bool)
    np.testing.assert_allclose(model.predict_rows(x, dates, ones)[0],
                               loaded.predict_rows(x, dates, ones)[0], rtol=1e-4, atol=1e-5)
