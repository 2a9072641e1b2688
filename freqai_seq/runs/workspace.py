"""Where a measuring command reads and writes: the user's own freqtrade setup or the bundled one.

`bench`, `skill`, `intervals`, `scale`, `live-cycle`, `soak` and `tune` take the same four
options (`-c` repeatable, `--datadir`, `--userdir`, `-p`) and hand them down as one object, so a
freqtrade user can ask of their own pairs and candles what the results pages ask of the bundled
ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freqai_seq import paths


@dataclass(frozen=True)
class Workspace:
    """The configs (merged in order, as freqtrade's `-c`), the candle folder the offline market
    serves, the user-data folder runs write under, and the pairs that replace the config's
    whitelist when given (empty: the config's own)."""

    configs: tuple[Path, ...] = (paths.CONFIG,)
    datadir: Path = paths.DATA_DIR
    userdir: Path = paths.USER_DATA
    pairs: tuple[str, ...] = ()
