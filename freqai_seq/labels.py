"""FreqAI label names: every name the plugin builds and every pattern it reads them with, in
one place (what each label trains and predicts: freqai_seq.model.tasks; the targets they hold:
freqai_seq.strategy.targets)."""

from __future__ import annotations

import re

RETURN = re.compile(r"^&-ret_(\d+)$")
VOLATILITY = re.compile(r"^&-(vol|logvar)_(\d+)$")
REGIME = re.compile(r"^&-regime_(\d+)_(\w+)$")
UNCERTAINTY = re.compile(r"^&-unc_(.+)$")
AGREEMENT = re.compile(r"^&-agree_(.+)$")
QUANTILE = re.compile(r"^&-q(\d{1,2})_(.+)$")
QUANTILE_RETURN = re.compile(r"^&-q\d{1,2}_ret_\d+$")
HORIZON = re.compile(r"^&-(?:q\d{1,2}_)?(?:ret|vol|logvar)_(\d+)$|^&-regime_(\d+)_\w+$")


def return_label(horizon: int) -> str:
    """FreqAI label column for the forward return over `horizon` candles."""
    return f"&-ret_{horizon}"


def volatility_label(horizon: int) -> str:
    return f"&-vol_{horizon}"


def log_variance_label(horizon: int) -> str:
    return f"&-logvar_{horizon}"


def regime_labels(horizon: int) -> list[str]:
    return [f"&-regime_{horizon}_{regime}" for regime in ("down", "flat", "up")]


def quantile_label(level: int, label: str) -> str:
    """(10, `&-ret_12`) -> `&-q10_ret_12`: the level-th percentile of that target."""
    return f"&-q{level:02d}_{label[2:]}"


def uncertainty_label(label: str) -> str:
    """`&-ret_12` -> `&-unc_ret_12`: the column the model fills with its MC-dropout spread."""
    return f"&-unc_{label[2:]}"


def label_horizon(name: str) -> int | None:
    """Candles ahead a return, volatility, regime or quantile label looks (None for other
    names)."""
    match = HORIZON.match(name)
    return int(match.group(1) or match.group(2)) if match else None


def return_labels(columns: list[str]) -> dict[int, str]:
    """Horizon -> label of the forward-return forecasts (`&-ret_<h>`) among the columns."""
    return {int(m[1]): c for c in columns if (m := RETURN.match(c))}


def volatility_labels(columns: list[str]) -> list[tuple[int, str]]:
    """(horizon, label) of every volatility label, by horizon then name."""
    return sorted((int(m[2]), c) for c in columns if (m := VOLATILITY.match(c)))


def is_log_variance(label: str) -> bool:
    return label.startswith("&-logvar_")
