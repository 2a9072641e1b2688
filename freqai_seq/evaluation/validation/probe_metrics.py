"""Formulas of the model analysis, on arrays (documented in the docs, Validation, and the report).

Lags count candles back from the newest step of a window: lag 0 is the candle predicted on.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-12


def attention_entropy(weights: np.ndarray) -> tuple[float, float]:
    """Mean entropy H = -sum_j a_ij log a_ij of every attention row (window, head, query i), and
    H / log(W): 1 for uniform attention over the W steps, 0 for attention on a single step."""
    entropy = -(weights * np.log(weights + EPS)).sum(axis=-1)
    mean = float(entropy.mean())
    return mean, mean / math.log(weights.shape[-1])


def newest_step_attention(weights: np.ndarray) -> np.ndarray:
    """(windows, heads, W) attention of the newest step, re-indexed by lag (column k = lag k)."""
    return weights[:, :, -1, ::-1]


def temporal_focus(by_lag: np.ndarray) -> dict[str, float | list[float]]:
    """Where the newest step looks: mean lag sum_k k a_k, the share of weight on the most recent
    quarter of the window, and the mean profile over lags."""
    lags = np.arange(by_lag.shape[-1])
    recent = max(1, by_lag.shape[-1] // 4)
    return {"mean_lag": float((by_lag * lags).sum(axis=-1).mean()),
            "recent_quarter_share": float(by_lag[..., :recent].sum(axis=-1).mean()),
            "profile_by_lag": by_lag.mean(axis=(0, 1)).tolist()}


def attention_consistency(by_lag: np.ndarray, consecutive: np.ndarray) -> float:
    """1 - JS(p, q) / log 2 between the newest-step attention of windows ending at t and t+1 on
    the W-1 candles both contain (each renormalised there), averaged over heads and the pairs
    where window i+1 ends one candle after window i (`consecutive[i]`): 1 when the attention
    stays on the same candles as the window slides."""
    if not consecutive.any():
        return float("nan")
    p = by_lag[:-1][consecutive][..., :-1]  # window t: candles of lags 0..W-2
    q = by_lag[1:][consecutive][..., 1:]    # window t+1: the same candles are lags 1..W-1
    p = p / (p.sum(axis=-1, keepdims=True) + EPS)
    q = q / (q.sum(axis=-1, keepdims=True) + EPS)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * (np.log(a + EPS) - np.log(b + EPS))).sum(axis=-1)

    js = (kl(p, m) + kl(q, m)) / 2
    return float(1 - js.mean() / math.log(2))


def representation_stability(reps: np.ndarray, consecutive: np.ndarray) -> float:
    """Mean cosine similarity of the summary vectors that feed the heads, between windows ending
    one candle apart."""
    if not consecutive.any():
        return float("nan")
    a, b = reps[:-1][consecutive], reps[1:][consecutive]
    cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + EPS)
    return float(cos.mean())


def dependency_by_lag(saliency: np.ndarray) -> np.ndarray:
    """Saliency per lag normalised to sum 1: |d prediction / d input| summed over features,
    averaged over windows. `saliency` is (windows, W) in lag order."""
    profile = saliency.mean(axis=0)
    return profile / (profile.sum() + EPS)


def dependency_beyond(profile: np.ndarray, lags: tuple[int, ...]) -> dict[str, float | None]:
    """Share of the saliency on inputs at least L candles back, for each L (None when L is
    outside the window: the model cannot see that far)."""
    return {str(lag): (float(profile[lag:].sum()) if lag < len(profile) else None)
            for lag in lags}


def overall_consistency(parts: list[float]) -> float:
    """Mean of the available consistency figures, each clipped to [0, 1]."""
    usable = [min(1.0, max(0.0, p)) for p in parts if p is not None and not math.isnan(p)]
    return float(np.mean(usable)) if usable else float("nan")
