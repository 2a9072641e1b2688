"""The one windowing rule, used for training and prediction alike.

A window ending at row r holds rows r-window+1 .. r and exists only when those rows are valid
(finite features) and consecutive candles (their dates are exactly one timeframe apart), so rows
removed upstream are never stitched together. The model's output for that window belongs to row r.
"""

from __future__ import annotations

import numpy as np
import torch


def window_ends(dates_ns: np.ndarray, valid: np.ndarray, window: int,
                timeframe_ns: int) -> np.ndarray:
    """Indices r whose window r-window+1 .. r is complete, valid and contiguous in time."""
    n = len(dates_ns)
    if n < window:
        return np.empty(0, dtype=np.int64)
    invalid_before = np.concatenate([[0], np.cumsum(~valid.astype(bool))])
    ends = np.arange(window - 1, n)
    starts = ends - window + 1
    all_valid = (invalid_before[ends + 1] - invalid_before[starts]) == 0
    contiguous = (dates_ns[ends] - dates_ns[starts]) == (window - 1) * timeframe_ns
    return ends[all_valid & contiguous]


def gather_windows(features: torch.Tensor, ends: torch.Tensor, window: int) -> torch.Tensor:
    """(n, f) features -> (len(ends), window, f) windows, as views from `unfold` (no copy)."""
    all_windows = features.unfold(0, window, 1)  # (n - window + 1, f, window)
    return all_windows[ends - (window - 1)].transpose(1, 2)
