"""The fitted artefact of a sequence regressor: what FreqAI saves, loads and predicts with.

Saved as a torch file holding plain data only (architecture config, CPU state_dict, feature and
label names, the raw-feature tail of the training data) plus `pytrainer`, a stateless loader
from this importable package that FreqAI's data drawer calls. Nothing from a file freqtrade
loaded by path is pickled, and tensors are stored on the CPU so a CUDA-trained model loads
anywhere. Files are written to a temporary name and renamed, so a crash never leaves half a model.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from freqai_seq.atomic import atomic_writer
from freqai_seq.checkpoints import CheckpointLoader, loads_format
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.model.cross_pair.columns import align_scaled
from freqai_seq.model.intervals import IntervalCalibration, monotone_quantiles
from freqai_seq.model.networks import NETWORKS, build_network
from freqai_seq.model.networks.volatility_baseline import with_volatility_baseline
from freqai_seq.model.seeding import loading_device, resolve_device
from freqai_seq.model.tasks import parse_labels
from freqai_seq.model.training import TrainResult
from freqai_seq.model.volatility_forecast import VarianceCalibration
from freqai_seq.model.windowing import gather_windows, window_ends

logger = logging.getLogger(__name__)

FORMAT = "freqai-seq/sequence-model"
FORMAT_VERSION = 2  # 2: the hybrid normalises the attention input


@dataclass
class HistoryTail:
    """Raw (unscaled) features of the last window-1 training candles, so the first rows of the
    following backtest window get full windows from the data that really preceded them."""

    dates_ns: np.ndarray
    features: pd.DataFrame

    def precedes(self, first_date_ns: int, timeframe_ns: int) -> bool:
        return len(self.dates_ns) > 0 and int(self.dates_ns[-1]) + timeframe_ns == first_date_ns


@dataclass(frozen=True)
class TrainingRecord:
    """What one per-pair training was, saved with the model so tools (the benchmark) read it
    from the model instead of parsing log lines: feature columns, training rows (train and
    test part, as FreqAI handed them) and the seconds of the whole training."""

    features: int
    rows: int
    seconds: float


PAIR_ID_COLUMN = "<pair-id>"


@dataclass(frozen=True)
class CrossPair:
    """What binds a window's shared (cross-pair) network to one pair."""

    pairs: tuple[str, ...]  # pairs whose windows trained the network, in pair-id order
    columns: tuple[str, ...]  # pair-neutral feature order of the network's input
    corr_pairs: tuple[str, ...]  # FreqAI's include_corr_pairlist (for the column rule)
    pair: str = ""  # the pair this model predicts for; "" for the shared network itself

    @property
    def pair_id(self) -> int:
        """The pair's id, or the "unseen pair" slot (len(pairs)) for a pair not trained on."""
        return self.pairs.index(self.pair) if self.pair in self.pairs else len(self.pairs)

    def inputs(self, scaled: pd.DataFrame, pair_ids: np.ndarray | None = None) -> np.ndarray:
        """The network's input rows: the pair's scaled features in the shared column order,
        then the pair-id column."""
        aligned = align_scaled(scaled, self.pair, list(self.columns), self.corr_pairs)
        ids = np.full(len(scaled), self.pair_id, np.float32) if pair_ids is None else pair_ids
        return np.column_stack([aligned, ids.astype(np.float32)])


@loads_format
class SequenceModel:
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def __init__(self, kind: str, cfg: SequenceConfig, feature_names: list[str],
                 label_names: list[str], timeframe_ns: int, tail: HistoryTail,
                 state_dict: dict[str, torch.Tensor] | None = None,
                 device: torch.device | None = None, cross: CrossPair | None = None) -> None:
        self.kind, self.cfg = kind, cfg
        self.feature_names, self.label_names = feature_names, label_names
        self.timeframe_ns, self.tail = timeframe_ns, tail
        self.cross = cross
        self.layout = parse_labels(label_names)
        self.calibration: list[IntervalCalibration] = []  # of the quantile intervals
        self.variance_calibration: list[VarianceCalibration] = []  # of &-logvar_<h> outputs
        self.training: TrainingRecord | None = None  # per-pair trainings only
        # the network's epochs (losses, rate, gradient norm): `freqai-seq training-plot`
        self.train_result: TrainResult | None = None
        self.device = device or resolve_device(cfg.device)
        self.net = build_network(kind, len(feature_names), len(label_names), cfg.to_dict(),
                                 n_pairs=len(cross.pairs) if cross else None)
        if cfg.volatility_baseline == "har":
            self.net = with_volatility_baseline(self.net, feature_names,
                                                self.layout.volatility_idx)
        if state_dict is not None:
            self.net.load_state_dict(state_dict)
        self.net.to(self.device)

    @property
    def window(self) -> int:
        return self.cfg.window

    def input_matrix(self, scaled: pd.DataFrame) -> np.ndarray:
        """Rows the network reads, from the pair's features after its FreqAI pipeline."""
        if self.cross is not None:
            return self.cross.inputs(scaled)
        return scaled.to_numpy(np.float32)

    def for_pair(self, pair: str, tail: HistoryTail) -> SequenceModel:
        """This (shared, cross-pair) model bound to `pair`, with that pair's training tail."""
        assert self.cross is not None
        ckpt = self.checkpoint()
        ckpt["cross_pair"] = asdict(replace(self.cross, pair=pair))
        ckpt["tail_dates_ns"] = tail.dates_ns
        ckpt["tail_features"] = tail.features.to_numpy(dtype=np.float64)
        ckpt["tail_columns"] = list(tail.features.columns)
        model = type(self).from_checkpoint(ckpt)
        model.device = self.device
        model.net.to(self.device)
        return model

    def predict_rows(self, features: np.ndarray, dates_ns: np.ndarray, valid: np.ndarray,
                     passes: int = 0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Network outputs per row (NaN where no full window), `passes` MC-dropout samples of
        them (or None), and the mask of rows predicted."""
        n = len(features)
        ends = window_ends(dates_ns, valid, self.window, self.timeframe_ns)
        predicted = np.zeros(n, dtype=bool)
        predicted[ends] = True
        x = torch.tensor(features, dtype=torch.float32, device=self.device)
        ends_t = torch.as_tensor(ends, device=self.device)
        self.net.eval()
        outputs = self._rows(x, ends_t, n)
        samples = None
        if passes:
            # Dropout on, seeded without touching the global generator: reproducible spread.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.cfg.seed)
                self.net.train()
                samples = np.stack([self._rows(x, ends_t, n) for _ in range(passes)])
                self.net.eval()
        return outputs, samples, predicted

    def predict_windows(self, x: torch.Tensor, ends: np.ndarray) -> np.ndarray:
        """Outputs (len(ends), labels) of the windows ending at `ends` of the scaled rows `x`."""
        self.net.eval()
        return self._rows(x, torch.as_tensor(ends, device=x.device), len(x))[ends]

    def _rows(self, x: torch.Tensor, ends: torch.Tensor, n: int) -> np.ndarray:
        out = np.full((n, len(self.label_names)), np.nan, dtype=np.float64)
        if len(ends):
            chunks = []
            with torch.no_grad():
                for start in range(0, len(ends), self.cfg.inference_batch_size):
                    batch = ends[start:start + self.cfg.inference_batch_size]
                    raw = self.net(gather_windows(x, batch, self.window)).float()
                    chunks.append(monotone_quantiles(raw, self.layout).cpu())
            out[ends.cpu().numpy()] = torch.cat(chunks).numpy()
        return out

    def checkpoint(self) -> dict[str, Any]:
        return {
            "format": self.format, "format_version": self.format_version,
            "pytrainer": CheckpointLoader(),
            "kind": self.kind, "config": self.cfg.to_dict(),
            "feature_names": self.feature_names, "label_names": self.label_names,
            "timeframe_ns": self.timeframe_ns,
            "tail_dates_ns": self.tail.dates_ns,
            "tail_features": self.tail.features.to_numpy(dtype=np.float64),
            "tail_columns": list(self.tail.features.columns),
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "cross_pair": asdict(self.cross) if self.cross is not None else None,
            "calibration": [c.as_dict() for c in self.calibration],
            "variance_calibration": [c.as_dict() for c in self.variance_calibration],
            "training": asdict(self.training) if self.training else None,
            "train_result": asdict(self.train_result) if self.train_result else None,
        }

    def save(self, path: Path) -> None:
        """Atomic: a crash while saving never leaves a half-written model file."""
        with atomic_writer(path) as fh:
            torch.save(self.checkpoint(), fh)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> SequenceModel:
        if ckpt.get("format") != cls.format or ckpt.get("format_version") != cls.format_version:
            raise FreqaiSeqError(
                f"Model file format {ckpt.get('format')!r} v{ckpt.get('format_version')} is not "
                f"{cls.format} v{cls.format_version}: retrain (delete the model folder or change "
                "the identifier)."
            )
        cfg = NETWORKS[ckpt["kind"]].config_class.from_params(ckpt["config"])
        tail = HistoryTail(np.asarray(ckpt["tail_dates_ns"], dtype=np.int64),
                           pd.DataFrame(ckpt["tail_features"], columns=ckpt["tail_columns"]))
        cross = ckpt.get("cross_pair")
        cross = CrossPair(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in cross.items()}) if cross else None
        model = cls(ckpt["kind"], cfg, list(ckpt["feature_names"]), list(ckpt["label_names"]),
                    int(ckpt["timeframe_ns"]), tail, state_dict=ckpt["state_dict"],
                    device=loading_device(cfg.device), cross=cross)
        model.calibration = [IntervalCalibration(**c) for c in ckpt.get("calibration", [])]
        model.variance_calibration = [VarianceCalibration(**c)
                                      for c in ckpt.get("variance_calibration", [])]
        if ckpt.get("training"):  # absent from files saved before it was recorded
            model.training = TrainingRecord(**ckpt["training"])
        if ckpt.get("train_result"):  # likewise
            model.train_result = TrainResult(**ckpt["train_result"])
        model.restore_extra(ckpt)
        return model

    def restore_extra(self, ckpt: dict[str, Any]) -> None:
        """Subclasses restore what they added to the checkpoint."""

    @classmethod
    def load(cls, path: Path) -> SequenceModel:
        """Load a saved model on whatever device this machine has (map_location=cpu first)."""
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        return ckpt["pytrainer"].load_from_checkpoint(ckpt)
