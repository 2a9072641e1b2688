"""Settings of one `freqai-seq tune` worker, kept apart from the tuning code so the CLI parser
can show the defaults without importing torch, freqtrade or optuna."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freqai_seq import defaults, paths
from freqai_seq.runs.run_config import freqai_identifier
from freqai_seq.runs.workspace import BUNDLED, Workspace

TUNE_DIR = paths.USER_DATA / "tune"
# Without pairs in the workspace, a study scores this many of the config's whitelist (the bundled
# config: BTC/USD, ETH/USD).
TUNE_PAIRS = 2


@dataclass(frozen=True)
class TuneSettings:
    """Everything one worker needs; the defaults are the CLI's."""

    study: str | None = None  # default: <model>-<strategy>
    storage: str | None = None  # default: SQLite in out_dir
    model: str = defaults.MODEL
    strategy: str = defaults.STRATEGY
    training_params: Path | None = None  # replaces the config's model_training_parameters
    space: Path | None = None  # JSON override of the default search space
    windows: int = 3
    # The last predicted window ends here: before the default backtest timerange
    # (20190601-20190901), so parameters are not chosen on the period they are judged on.
    end: str = "20190601"
    train_days: int | None = None  # default: the config's train_period_days
    predict_days: int | None = None  # default: the config's backtest_period_days
    epochs: int | None = 5  # None keeps the config's
    n_trials: int = 20
    timeout: float | None = None
    seed: int = 42
    metric: str = "ic"
    prune: bool = True
    prune_startup_trials: int = 5
    prune_warmup_windows: int = 1
    threads: int = 0
    out_dir: Path = TUNE_DIR
    # the configs, candles and pairs of the trials (which run in a throw-away user-data folder)
    workspace: Workspace = BUNDLED

    @property
    def study_name(self) -> str:
        if self.study:
            return self.study
        return freqai_identifier(self.model, self.strategy)

    @property
    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{(self.out_dir / f'{self.study_name}.sqlite').resolve()}"

    @property
    def best_file(self) -> Path:
        return self.out_dir / f"{self.study_name}.best.json"
