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


def fit_stack(base_predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights of the bases plus a free intercept, least squares:
    (n, bases) predictions, (n,) target -> (bases + 1,) with the intercept last."""
    design = np.column_stack([base_predictions, np.ones(len(target))])
    n_bases = base_predictions.shape[1]
    bounds = ([0.0] * n_bases + [-np.inf], [np.inf] * (n_bases + 1))
    return lsq_linear(design, target, bounds=bounds).x


def combine(base_predictions: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """(n, bases) -> (n,) with weights and intercept from `fit_stack`."""
    return base_predictions @ stack[:-1] + stack[-1]
