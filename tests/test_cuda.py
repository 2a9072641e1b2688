"""The CUDA path: training with mixed precision on the GPU, GPU-trained models loading on the CPU
with the same predictions, seeded reproducibility on the GPU. Skipped where torch sees no CUDA
device (CI has none); run it on a GPU machine with `pytest tests/test_cuda.py`.

Only torch, numpy and pandas are needed, so it also runs where freqtrade is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from freqai_seq.model.config_schema import HybridConfig, SequenceConfig
from freqai_seq.model.seeding import seed_everything
from freqai_seq.model.sequence_model import HistoryTail, SequenceModel
from freqai_seq.model.tasks import parse_labels
from freqai_seq.model.training import TaskLoss, WindowedData, train_network
from freqai_seq.model.windowing import window_ends

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")

ROOT = Path(__file__).resolve().parents[1]
CPU_LOADER = """
import sys
from pathlib import Path
import numpy as np
import torch
assert not torch.cuda.is_available()
folder = Path(sys.argv[1])
checkpoint = torch.load(folder / "m_model.zip", weights_only=False)
model = checkpoint["pytrainer"].load_from_checkpoint(checkpoint)
assert model.device.type == "cpu"
x = np.load(folder / "x.npy")
pred, _, _ = model.predict_rows(x, np.load(folder / "dates.npy"), np.ones(len(x), bool))
np.save(folder / "cpu_pred.npy", pred)
"""
HOUR_NS = 3_600_000_000_000
N, N_TRAIN, WINDOW = 3000, 2400, 8
CONFIGS = {
    "lstm": SequenceConfig(window=WINDOW, hidden_size=32, epochs=15, learning_rate=0.01,
                           dropout=0.0, device="auto", mixed_precision=True),
    "cnn_lstm_attention": HybridConfig(window=WINDOW, hidden_size=32, epochs=15,
                                       learning_rate=0.01, dropout=0.0, device="cuda",
                                       pool_horizons=(2, 4, 8), attention_dim=16,
                                       attention_heads=2, conv_channels=8),
}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target = fixed function of the current and lagged inputs (lags 0, 3, 5)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 3)).astype(np.float32)
    y = 0.6 * x[:, 0] + 0.5 * np.roll(x[:, 0], 3) - 0.5 * np.roll(x[:, 1], 5)
    return x, y.astype(np.float32)[:, None], np.arange(N, dtype=np.int64) * HOUR_NS


def _train(kind: str, cfg: SequenceConfig) -> tuple[SequenceModel, np.ndarray, float]:
    """A model trained on the GPU; its predictions for every row and the validation R²."""
    x, y, dates = _data()
    generator = seed_everything(cfg.seed, cfg.deterministic)
    device = torch.device("cuda")
    ends = window_ends(dates, np.ones(N, bool), cfg.window, HOUR_NS)
    ends = ends[ends >= 5]  # the lags wrap around before row 5
    train_ends, val_ends = ends[ends < N_TRAIN], ends[ends >= N_TRAIN]
    data = WindowedData(torch.as_tensor(x, device=device), y, np.ones(N, np.float32),
                        torch.zeros((N, 0), dtype=torch.long, device=device), train_ends,
                        val_ends, dates)
    tail = HistoryTail(dates[:0], pd.DataFrame(columns=["a", "b", "c"], dtype=float))
    model = SequenceModel(kind, cfg, ["a", "b", "c"], ["&-target"], HOUR_NS, tail, device=device)
    loss = TaskLoss(parse_labels(["&-target"]), 1, cfg, device)
    train_network(model.net, data.subset(train_ends, device), data.subset(val_ends, device), cfg,
                  device, generator, loss)
    pred, _, predicted = model.predict_rows(x, dates, np.ones(N, bool))
    truth = y[val_ends, 0]
    r2 = 1 - np.mean((pred[val_ends, 0] - truth) ** 2) / np.var(truth)
    assert predicted[val_ends].all()
    return model, pred, float(r2)


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_training_on_cuda_learns_and_loads_on_cpu(kind: str, tmp_path: Path) -> None:
    """The LSTM trains with mixed precision (autocast + GradScaler), the hybrid in float32."""
    cfg = CONFIGS[kind]
    model, pred, r2 = _train(kind, cfg)
    assert next(model.net.parameters()).device.type == "cuda"
    assert r2 > 0.8, r2

    model.save(tmp_path / "m_model.zip")
    x, _, dates = _data()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "dates.npy", dates)
    # A machine without a GPU, loading the way FreqAI's data drawer does (no map_location).
    subprocess.run([sys.executable, "-c", CPU_LOADER, str(tmp_path)], check=True,
                   env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, cwd=ROOT)
    cpu_pred = np.load(tmp_path / "cpu_pred.npy")
    ok = ~np.isnan(pred[:, 0])
    np.testing.assert_array_equal(np.isnan(cpu_pred[:, 0]), ~ok)
    # cuDNN runs the recurrent and convolution kernels in TF32 (10-bit mantissa) by default:
    # the same model agrees to a few 1e-4 of the forecasts' spread, not to float32 rounding.
    gap = np.max(np.abs(cpu_pred[ok] - pred[ok])) / np.std(pred[ok])
    assert gap < 3e-3, gap


def test_same_seed_on_cuda_gives_identical_predictions() -> None:
    cfg = SequenceConfig(window=WINDOW, hidden_size=32, epochs=3, dropout=0.1, device="cuda",
                         augment_noise=0.05, augment_time_jitter=1, augment_scale=0.1)
    _, first, _ = _train("lstm", cfg)
    _, second, _ = _train("lstm", cfg)
    np.testing.assert_array_equal(first, second)


def test_quantile_heads_train_with_mixed_precision_and_load_on_cpu(tmp_path: Path) -> None:
    """The monotone quantile parametrisation and the pinball loss under autocast: the heads
    learn a spread that moves with an input, never cross, and give the same quantiles on CPU."""
    rng = np.random.default_rng(1)
    s, b, noise = rng.normal(size=(3, N)).astype(np.float32)
    s = np.abs(s)
    sigma = 0.2 + np.roll(s, 2)
    y = (sigma * noise).astype(np.float32)
    x = np.column_stack([s, b, rng.normal(size=N).astype(np.float32)]).astype(np.float32)
    dates = np.arange(N, dtype=np.int64) * HOUR_NS
    labels = ["&-q10_y", "&-q50_y", "&-q90_y"]
    cfg = SequenceConfig(window=WINDOW, hidden_size=32, epochs=15, learning_rate=0.01,
                         dropout=0.0, device="cuda", mixed_precision=True)
    generator = seed_everything(cfg.seed, cfg.deterministic)
    device = torch.device("cuda")
    ends = window_ends(dates, np.ones(N, bool), cfg.window, HOUR_NS)
    ends = ends[ends >= 2]
    train_ends, val_ends = ends[ends < N_TRAIN], ends[ends >= N_TRAIN]
    targets = np.repeat(y[:, None], 3, axis=1)
    data = WindowedData(torch.as_tensor(x, device=device), targets, np.ones(N, np.float32),
                        torch.zeros((N, 0), dtype=torch.long, device=device), train_ends,
                        val_ends, dates)
    tail = HistoryTail(dates[:0], pd.DataFrame(columns=["a", "b", "c"], dtype=float))
    model = SequenceModel("lstm", cfg, ["a", "b", "c"], labels, HOUR_NS, tail, device=device)
    loss = TaskLoss(parse_labels(labels), 3, cfg, device)
    train_network(model.net, data.subset(train_ends, device), data.subset(val_ends, device), cfg,
                  device, generator, loss)
    pred, _, _ = model.predict_rows(x, dates, np.ones(N, bool))
    q = pred[val_ends]
    assert (np.diff(q, axis=1) >= 0).all()
    inside = np.mean((y[val_ends] >= q[:, 0]) & (y[val_ends] <= q[:, 2]))
    assert abs(inside - 0.8) < 0.08, inside
    width = pd.Series(q[:, 2] - q[:, 0])
    assert width.corr(pd.Series(sigma[val_ends]), method="spearman") > 0.6

    model.save(tmp_path / "m_model.zip")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "dates.npy", dates)
    subprocess.run([sys.executable, "-c", CPU_LOADER, str(tmp_path)], check=True,
                   env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, cwd=ROOT)
    cpu = np.load(tmp_path / "cpu_pred.npy")[val_ends]
    assert (np.diff(cpu, axis=1) >= 0).all()
    assert np.max(np.abs(cpu - q)) / np.std(q) < 3e-3
