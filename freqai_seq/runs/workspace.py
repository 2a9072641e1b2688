"""Where a measuring command reads and writes: the user's own freqtrade setup or the bundled one.

`bench`, `skill`, `intervals`, `scale`, `live-cycle`, `soak` and `tune` take the same four
options (`-c` repeatable, `--datadir`, `--userdir`, `-p`) and hand them down as one object, so a
freqtrade user can ask of their own pairs and candles what the results pages ask of the bundled
ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqai_seq import paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs.run_config import load_user_configs


@dataclass(frozen=True)
class Workspace:
    """The configs (merged in order, as freqtrade's `-c`), the candle folder the offline market
    serves, the user-data folder runs write under, and the pairs that replace the config's
    whitelist when given (empty: the config's own)."""

    configs: tuple[Path, ...] = (paths.CONFIG,)
    datadir: Path = paths.DATA_DIR
    userdir: Path = paths.USER_DATA
    pairs: tuple[str, ...] = ()

    def config(self) -> dict[str, Any]:
        """The configs merged as freqtrade merges them (a missing or broken file: one line)."""
        return load_user_configs(self.configs)[1]

    def trading_pairs(self, config: dict[str, Any]) -> tuple[str, ...]:
        """The pairs the runs trade: the given ones, else the merged config's whitelist;
        wildcards (`.*/EUR`) expanded over the candle folder's pairs, as freqtrade does (a
        missing pair is kept, for the run's own check to name it)."""
        from freqtrade.plugins.pairlist.pairlist_helpers import expand_pairlist

        from freqai_seq.data.candle_checks import available_candles

        entries = self.pairs or tuple(config.get("exchange", {}).get("pair_whitelist") or ())
        have = sorted({p for p, _ in available_candles(self.datadir)}) \
            if self.datadir.is_dir() else []
        try:
            pairs = tuple(dict.fromkeys(expand_pairlist(list(entries), have, keep_invalid=True)))
        except ValueError as exc:  # an invalid wildcard
            raise FreqaiSeqError(f"pair_whitelist: {exc}.") from exc
        if not pairs:
            raise FreqaiSeqError(f"{' + '.join(map(str, self.configs))} names no pairs with "
                                 f"candles in {self.datadir} (exchange.pair_whitelist): pass -p.")
        return pairs


BUNDLED = Workspace()  # the bundled config, candles and user_data folder: every command's default
