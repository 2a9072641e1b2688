"""Benchmark settings, kept apart from the benchmark itself so the CLI parser can show the
defaults without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freqai_seq import paths

SEQUENCE_MODELS = ("PyTorchLSTMRegressor", "PyTorchGRURegressor")
BUILTIN_TORCH = {"PyTorchMLPRegressor": {"hidden_dim": 512, "dropout_percent": 0.2, "n_layer": 1},
                 "PyTorchTransformerRegressor": {"hidden_dim": 512, "dropout_percent": 0.2,
                                                 "n_layer": 1}}
ALL_MODELS = (*SEQUENCE_MODELS, "LightGBMRegressor", *BUILTIN_TORCH)


@dataclass(frozen=True)
class BenchSettings:
    pairs: tuple[str, ...] = ("BTC/USD", "ETH/USD", "LTC/USD")
    timerange: str = "20190601-20190901"
    epochs: int = 10
    batch_size: int = 64
    window: int = 24
    models: tuple[str, ...] = ALL_MODELS
    out_dir: Path = paths.USER_DATA / "bench"
    userdir: Path = paths.USER_DATA
