"""A network that starts its volatility outputs from the HAR-RV forecast and learns the residual
(`volatility_baseline: "har"`).

Each volatility label (`&-vol_<h>`, `&-logvar_<h>`) gets a linear HAR baseline of the window's
newest candle: an intercept plus a weight per HAR feature (freqai_seq.model.har), fitted by least
squares on the training rows of every training (in FreqAI's scaled units: its scalers are
affine, so this is the HAR regression on the log components). The wrapped network's output for
the label is added to it, so an untrained network already forecasts HAR and training only has
to learn what HAR misses. The coefficients are buffers: saved, loaded and moved with the
weights.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model.har import HAR_FEATURES

logger = logging.getLogger(__name__)


class VolatilityBaseline(nn.Module):
    """Wraps `base`; `feature_idx` are the HAR feature columns of the input, `target_idx` the
    volatility outputs."""

    def __init__(self, base: nn.Module, feature_idx: list[int], target_idx: list[int]) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("feature_idx", torch.as_tensor(feature_idx, dtype=torch.long))
        self.register_buffer("target_idx", torch.as_tensor(target_idx, dtype=torch.long))
        # (targets, 1 + features): intercept then weights; all 0 until fitted
        self.register_buffer("coef", torch.zeros(len(target_idx), 1 + len(feature_idx)))

    @property
    def reserved_inputs(self) -> int:
        return int(getattr(self.base, "reserved_inputs", 0))

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.represent(x)

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, targets) HAR forecast of each window's newest candle."""
        newest = x[:, -1, self.feature_idx].float()
        return self.coef[:, 0] + newest @ self.coef[:, 1:].T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        return out.index_add(1, self.target_idx, self.baseline(x).to(out.dtype))

    def fit(self, features: np.ndarray, targets: np.ndarray) -> int:
        """Least squares of each volatility target on the HAR features of the training rows
        (`features` (rows, HAR features), `targets` (rows, volatility targets)), finite rows
        only; returns the rows fitted (0: too few, the baseline stays 0 and it is logged)."""
        ok = np.isfinite(features).all(axis=1) & np.isfinite(targets).all(axis=1)
        n_coef = 1 + features.shape[1]
        if ok.sum() < 10 * n_coef:
            logger.warning("volatility_baseline har: %d finite training rows, fewer than %d: "
                           "the network learns the volatility outputs without the HAR start",
                           int(ok.sum()), 10 * n_coef)
            self.coef.zero_()
            return 0
        design = np.column_stack([np.ones(ok.sum()), features[ok]])
        coef = np.linalg.lstsq(design, targets[ok].astype(np.float64), rcond=None)[0]
        self.coef.copy_(torch.as_tensor(coef.T, dtype=torch.float32))
        return int(ok.sum())


def with_volatility_baseline(net: nn.Module, feature_names: list[str],
                             volatility_idx: list[int]) -> VolatilityBaseline:
    """`net` wrapped with the HAR baseline; a clear error when the features or the volatility
    labels it needs are missing."""
    missing = [name for name in HAR_FEATURES if name not in feature_names]
    if missing:
        raise FreqaiSeqError(
            f"volatility_baseline 'har' needs the features {list(HAR_FEATURES)}; missing "
            f"{missing}. The plugin's strategies add them when the key is set; in your own "
            "strategy call freqai_seq.model.har.add_har_features in "
            "feature_engineering_standard "
            "(and keep principal_component_analysis off: it renames the features).")
    if not volatility_idx:
        raise FreqaiSeqError("volatility_baseline 'har' needs a volatility label (&-vol_<h> or "
                             "&-logvar_<h>) to start from HAR.")
    return VolatilityBaseline(net, [feature_names.index(n) for n in HAR_FEATURES],
                              volatility_idx)
