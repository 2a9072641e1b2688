"""Benchmark settings, kept apart from the benchmark itself so the CLI parser can show the
defaults without importing torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqai_seq import defaults, paths
from freqai_seq.runs.run_config import freqai_identifier
from freqai_seq.runs.workspace import BUNDLED, Workspace

MC_PASSES = 20


@dataclass(frozen=True)
class BenchModel:
    """One benchmark row: a FreqAI model class run by a strategy, with extra training keys."""

    name: str
    freqaimodel: str
    strategy: str = defaults.STRATEGY
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sequence(self) -> bool:
        return self.freqaimodel.startswith(("PyTorchLSTM", "PyTorchGRU", "PyTorchCNNLSTM",
                                            "LSTMLightGBM"))

    @property
    def identifier(self) -> str:
        return freqai_identifier("bench", self.name)


HYBRID = "PyTorchCNNLSTMAttentionRegressor"
BUILTIN_TORCH = {"PyTorchMLPRegressor": {"hidden_dim": 512, "dropout_percent": 0.2, "n_layer": 1},
                 "PyTorchTransformerRegressor": {"hidden_dim": 512, "dropout_percent": 0.2,
                                                 "n_layer": 1}}
BENCH_MODELS: dict[str, BenchModel] = {m.name: m for m in (
    BenchModel("PyTorchLSTMRegressor", "PyTorchLSTMRegressor"),
    BenchModel("PyTorchGRURegressor", "PyTorchGRURegressor"),
    BenchModel(HYBRID, HYBRID),
    BenchModel(f"{HYBRID}+multitask", HYBRID, "FreqaiSeqMultiTaskStrategy"),
    BenchModel(f"{HYBRID}+multitask+mc{MC_PASSES}", HYBRID, "FreqaiSeqMultiTaskStrategy",
               {"mc_dropout_passes": MC_PASSES}),
    BenchModel("LSTMLightGBMEnsembleRegressor", "LSTMLightGBMEnsembleRegressor"),
    BenchModel("LightGBMRegressor", "LightGBMRegressor"),
    *(BenchModel(name, name) for name in BUILTIN_TORCH),
)}
ALL_MODELS = tuple(BENCH_MODELS)


# Without pairs in the workspace, the benchmark takes this many of the config's whitelist (the
# bundled config: BTC/USD, ETH/USD, LTC/USD).
BENCH_PAIRS = 3


@dataclass(frozen=True)
class BenchSettings:
    timerange: str = defaults.TIMERANGE
    epochs: int = 10
    batch_size: int = 64
    window: int = 24
    train_days: int = 30  # per-pair FreqAI's usual length, whatever config.json says
    models: tuple[str, ...] = ALL_MODELS
    out_dir: Path = paths.USER_DATA / "bench"
    workspace: Workspace = BUNDLED  # configs, candles, user-data folder and pairs of the runs
    # the walk-forward's trainings spread over worker processes or a Dask cluster
    # (freqai_seq.runs.walkforward.spread); None and None: one freqtrade process
    workers: int | None = None
    cluster: str | None = None
    training_threads: int = 1

    def pairs_of(self, config: dict[str, Any]) -> tuple[str, ...]:
        """The workspace's pairs, else the first BENCH_PAIRS of the merged `config`'s."""
        pairs = self.workspace.trading_pairs(config)
        return pairs if self.workspace.pairs else pairs[:BENCH_PAIRS]
