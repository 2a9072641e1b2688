"""Lining up FreqAI's feature columns across pairs.

FreqAI names a feature with the pair and timeframe it was computed on (`%-rsi-period_12_ETH/USD_1h`)
and, for a pair that is itself in `include_corr_pairlist`, leaves out that corr block (it would
repeat the pair's own columns). The rule used here:

- the pair's own name in a column becomes `<pair>`: `%-rsi-period_12_<pair>_1h` means "this
  pair's RSI" for every pair;
- a corr pair's block missing from the corr pair itself is filled from its own columns (the same
  series, so the same values);
- a column the pair's feature pipeline removed (zero variance in the window) is 0 for that pair;
- any other difference between pairs is refused with the columns named.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from freqai_seq.errors import FreqaiSeqError

OWN = "<pair>"


def neutral_name(column: str, pair: str) -> str:
    """`column` of `pair`'s features with the pair's own name replaced by `<pair>`."""
    return column.replace(f"_{pair}_", f"_{OWN}_")


def corr_fills(column: str, pair: str, corr_pairs: Iterable[str]) -> list[str]:
    """Pair-neutral names a column of `pair` stands for: itself, plus the corr-block name when
    `pair` is a corr pair (whose own corr block FreqAI leaves out)."""
    names = [neutral_name(column, pair)]
    if pair in corr_pairs and f"_{pair}_" in column:
        names.append(column)
    return names


def aligned_names(columns: Iterable[str], pair: str, corr_pairs: Iterable[str]) -> list[str]:
    """The sorted pair-neutral feature set of one pair, after the corr-block fill."""
    corr = list(corr_pairs)
    return sorted({n for c in columns for n in corr_fills(c, pair, corr)})


def check_same_features(raw: dict[str, list[str]], corr_pairs: Iterable[str]) -> list[str]:
    """The common pair-neutral feature list of every pair's raw features, or an error naming
    the columns that differ."""
    corr = list(corr_pairs)
    sets = {pair: aligned_names(cols, pair, corr) for pair, cols in raw.items()}
    first_pair, reference = next(iter(sets.items()))
    for pair, names in sets.items():
        if names != reference:
            only_here = sorted(set(names) - set(reference))[:5]
            only_there = sorted(set(reference) - set(names))[:5]
            raise FreqaiSeqError(
                f"cross_pair: the features of {pair} do not line up with those of {first_pair} "
                f"(after replacing each pair's own name by {OWN}): only {pair} has {only_here}, "
                f"only {first_pair} has {only_there}. Every pair must compute the same features."
            )
    return reference


def align_scaled(frame: pd.DataFrame, pair: str, canonical: list[str],
                 corr_pairs: Iterable[str]) -> np.ndarray:
    """Scaled features of `pair` (columns named as FreqAI names them) in the `canonical`
    pair-neutral order; a canonical column the pair does not have is 0 (its pipeline dropped it
    for zero variance)."""
    corr = list(corr_pairs)
    source: dict[str, int] = {}
    for position, column in enumerate(frame.columns):
        for name in corr_fills(column, pair, corr):
            source.setdefault(name, position)
    values = frame.to_numpy(np.float32)
    out = np.zeros((len(frame), len(canonical)), dtype=np.float32)
    for j, name in enumerate(canonical):
        if name in source:
            out[:, j] = values[:, source[name]]
    return out
