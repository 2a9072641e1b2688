"""The fitted ensemble: a sequence model plus one LightGBM booster per regression label and the
stacking weights, saved and loaded as one versioned file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import torch

from freqai_seq.checkpoints import CheckpointLoader, loads_format
from freqai_seq.model.ensemble.config import EnsembleConfig
from freqai_seq.model.ensemble.stacking import combine, flat_features
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.model.windowing import gather_windows


@dataclass(frozen=True)
class BaseOutputs:
    """Each base's own outputs per row, scaled: the agreement columns and the weights by
    recent error compare them."""

    net: np.ndarray  # the sequence network's
    boosted: np.ndarray  # LightGBM's (NaN where a label has no booster or a row no window)


@loads_format
class EnsembleModel(SequenceModel):
    format = "freqai-seq/ensemble-model"
    format_version = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ensemble = EnsembleConfig()
        self.boosters: list[lgb.Booster | None] = [None] * len(self.label_names)
        # Per label: weight of the network, weight of LightGBM, intercept (scaled label space).
        self.stack = np.tile([1.0, 0.0, 0.0], (len(self.label_names), 1))
        self.train_info: dict[str, Any] = {}

    def lightgbm_inputs(self, x: torch.Tensor, ends: np.ndarray) -> np.ndarray:
        """LightGBM's rows for windows ending at `ends` of the scaled rows `x`."""
        chunks = []
        with torch.no_grad():
            for start in range(0, len(ends), self.cfg.inference_batch_size):
                batch = torch.as_tensor(ends[start:start + self.cfg.inference_batch_size],
                                        device=x.device)
                windows = gather_windows(x, batch, self.window)
                embedding = self.net.represent(windows) if self.ensemble.ensemble_embedding \
                    else None
                chunks.append(flat_features(windows, self.ensemble.ensemble_window_summaries,
                                            embedding))
        return np.concatenate(chunks) if chunks else np.empty((0, 0))

    def predict_rows(self, features: np.ndarray, dates_ns: np.ndarray, valid: np.ndarray,
                     passes: int = 0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The stacked forecast (see `predict_with_bases`)."""
        return self.predict_with_bases(features, dates_ns, valid, passes)[:3]

    def predict_with_bases(self, features: np.ndarray, dates_ns: np.ndarray,
                           valid: np.ndarray, passes: int = 0
                           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, BaseOutputs]:
        """The stacked forecast, its MC-dropout samples, the rows predicted, and each base's
        own outputs."""
        net_out, samples, predicted = super().predict_rows(features, dates_ns, valid, passes)
        self.net.eval()
        ends = np.flatnonzero(predicted)
        boosted = np.full_like(net_out, np.nan)
        if len(ends):
            x = torch.tensor(features, dtype=torch.float32, device=self.device)
            rows = self.lightgbm_inputs(x, ends)
            for j, booster in enumerate(self.boosters):
                if booster is not None:
                    boosted[ends, j] = booster.predict(rows)
        return (self._stacked(net_out, boosted),
                None if samples is None else np.stack([self._stacked(s, boosted)
                                                       for s in samples]),
                predicted, BaseOutputs(net_out, boosted))

    def _stacked(self, net_out: np.ndarray, boosted: np.ndarray) -> np.ndarray:
        out = net_out.copy()
        for j, booster in enumerate(self.boosters):
            if booster is not None:
                out[:, j] = combine(np.column_stack([net_out[:, j], boosted[:, j]]),
                                    self.stack[j])
        return out

    def checkpoint(self) -> dict[str, Any]:
        ckpt = super().checkpoint()
        ckpt.update(pytrainer=CheckpointLoader(), ensemble=self.ensemble.to_dict(),
                    boosters=[b.model_to_string() if b is not None else None
                              for b in self.boosters],
                    stack=self.stack.tolist(), train_info=self.train_info)
        return ckpt

    def restore_extra(self, ckpt: dict[str, Any]) -> None:
        self.ensemble = EnsembleConfig(**ckpt["ensemble"])
        self.boosters = [lgb.Booster(model_str=b) if b is not None else None
                         for b in ckpt["boosters"]]
        self.stack = np.asarray(ckpt["stack"], dtype=np.float64)
        self.train_info = dict(ckpt["train_info"])
