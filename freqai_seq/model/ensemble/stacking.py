"""What LightGBM sees of a window, and the stacking meta-model."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import lsq_linear


def flat_features(windows: torch.Tensor, summaries: bool,
                  embedding: torch.Tensor | None) -> np.ndarray:
    """(m, window, f) windows -> (m, columns): the newest row, optionally the window's mean and
    std per feature, optionally the network's summary vector."""
    parts = [windows[:, -1]]
    if summaries:
        parts += [windows.mean(dim=1), windows.std(dim=1, unbiased=False)]
    if embedding is not None:
        parts.append(embedding)
    return torch.cat(parts, dim=1).detach().cpu().numpy().astype(np.float64)


def fit_stack(base_predictions: np.ndarray, target: np.ndarray, shrinkage: float = 0.0,
              max_weight: float = 0.0) -> np.ndarray:
    """Non-negative weights of the bases plus a free intercept, least squares:
    (n, bases) predictions, (n,) target -> (bases + 1,) with the intercept last.

    Fit on ~100 held-out rows, unconstrained weights can reach several times 1: an amplified
    forecast, not a blend. `shrinkage` s adds s * n * var(target) * (w - 1 / bases)^2 per
    weight to the squared error: a weight is dimensionless, so the target's spread makes s a
    share of the rows, and a base that is (nearly) constant on these rows, which the intercept
    could otherwise trade against without bound, is held at 1 / bases. `max_weight` caps each
    weight (0: no cap)."""
    n, n_bases = base_predictions.shape
    design = np.column_stack([base_predictions, np.ones(n)])
    rhs = target
    if shrinkage > 0:
        scale = np.sqrt(shrinkage * n) * target.std()
        penalty = np.column_stack([scale * np.eye(n_bases), np.zeros(n_bases)])
        design = np.vstack([design, penalty])
        rhs = np.concatenate([target, np.full(n_bases, scale / n_bases)])
    upper = max_weight if max_weight > 0 else np.inf
    bounds = ([0.0] * n_bases + [-np.inf], [upper] * n_bases + [np.inf])
    return lsq_linear(design, rhs, bounds=bounds).x


def combine(base_predictions: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """(n, bases) -> (n,) with weights and intercept from `fit_stack`."""
    return base_predictions @ stack[:-1] + stack[-1]
