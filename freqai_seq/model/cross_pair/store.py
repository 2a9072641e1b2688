"""Where a window's shared model is kept: `models/<identifier>/cross-pair/<key>_<stop>.pt`
(`.pkl` for the pooled LightGBM).

`key` hashes everything that decides what the network is (code format, network and its keys,
pair-neutral features, labels, the pair set, FreqAI's data settings), so a change of any of them
trains a new network instead of reusing a stale one. `stop` is the end of the training range.
Files are written atomically (a kill never leaves half a network).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FOLDER = "cross-pair"
_ENTRY = re.compile(r"^([0-9a-f]{16})_(\d+)\.(?:pt|pkl)$")


def network_key(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SharedNetworks:
    def __init__(self, models_dir: Path) -> None:
        self.folder = models_dir / FOLDER

    def path(self, key: str, stop_ts: int, suffix: str = ".pt") -> Path:
        return self.folder / f"{key}_{stop_ts}{suffix}"

    def entries(self) -> list[tuple[str, int, Path]]:
        if not self.folder.is_dir():
            return []
        found = [(m.group(1), int(m.group(2)), p) for p in self.folder.iterdir()
                 if (m := _ENTRY.match(p.name))]
        return sorted(found, key=lambda e: e[1])

    def find(self, key: str, stop_ts: int, reuse_seconds: int) -> Path | None:
        """The newest network of `key` trained up to a time in (stop_ts - reuse_seconds,
        stop_ts]: in a backtest the window's own (reuse = one candle); live, the one the first
        pair due for retraining trained, until it is `reuse_seconds` old."""
        usable = [p for k, ts, p in self.entries()
                  if k == key and stop_ts - reuse_seconds < ts <= stop_ts]
        return usable[-1] if usable else None

    def purge(self, keep: int) -> list[Path]:
        """Delete all but the `keep` newest networks of each key (FreqAI's purge_old_models)."""
        by_key: dict[str, list[Path]] = {}
        for key, _, path in self.entries():
            by_key.setdefault(key, []).append(path)
        removed = [p for paths in by_key.values() for p in paths[:-keep]]
        for path in removed:
            logger.info("Purging old cross-pair network %s", path)
            path.unlink(missing_ok=True)
        return removed
