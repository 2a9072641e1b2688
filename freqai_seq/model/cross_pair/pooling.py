"""All pairs' training rows of a window in one set the training loop reads like one pair's.

Rows are stacked pair after pair (pairs in sorted order, so the result does not depend on which
pair asked first); windows are cut per pair, so no window spans two pairs. Every pair's train
part trains and every pair's test part validates (early stopping on all pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from freqai_seq.model.training import WindowedData
from freqai_seq.model.windowing import window_ends


@dataclass(frozen=True)
class PairRows:
    pair: str
    inputs: np.ndarray  # (rows, columns + 1): aligned scaled features, then the pair id
    targets: np.ndarray  # (rows, labels), scaled by the pair's label pipeline
    weights: np.ndarray
    classes: np.ndarray
    dates_ns: np.ndarray
    n_train: int  # rows of the train part; the rest is FreqAI's test split


def pair_window_ends(dates_ns: np.ndarray, window: int, timeframe_ns: int) -> np.ndarray:
    """One pair's window ends (its rows are all valid: FreqAI dropped the NaN ones)."""
    return window_ends(dates_ns, np.ones(len(dates_ns), bool), window, timeframe_ns)


def pool_windows(parts: list[PairRows], window: int, timeframe_ns: int,
                 device: torch.device) -> WindowedData:
    train, val = [], []
    offset = 0
    for rows in parts:
        ends = pair_window_ends(rows.dates_ns, window, timeframe_ns)
        train.append(ends[ends < rows.n_train] + offset)
        val.append(ends[ends >= rows.n_train] + offset)
        offset += len(rows.inputs)
    features = np.concatenate([p.inputs for p in parts]).astype(np.float32)
    return WindowedData(
        torch.as_tensor(features, device=device),
        np.concatenate([p.targets for p in parts]).astype(np.float32),
        np.concatenate([p.weights for p in parts]).astype(np.float32),
        torch.as_tensor(np.concatenate([p.classes for p in parts]), device=device),
        np.concatenate(train), np.concatenate(val),
        np.concatenate([p.dates_ns for p in parts]),
        np.cumsum([0] + [len(p.inputs) for p in parts[:-1]]).astype(np.int64),
        np.array([p.n_train for p in parts], np.int64))
