"""Real candles relabelled as 1-minute candles, so a dry-run sees a new candle every minute.

Prices, volumes, order and gaps are the stored 30-minute candles'; only the clock runs 30 times
faster. Time-of-day and weekday features lose their meaning, so this is for watching and testing
the live path (training, prediction per new candle, restarts), never for judging a model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from freqai_seq.errors import FreqaiSeqError

logger = logging.getLogger(__name__)

SOURCE_TIMEFRAME = "30m"
FAST_TIMEFRAME = "1m"
SPEEDUP = pd.Timedelta(SOURCE_TIMEFRAME) // pd.Timedelta(FAST_TIMEFRAME)
# Relabelled candles start here; the replay starts 2 relabelled days later (one to train on).
ANCHOR = pd.Timestamp("2017-10-01", tz="UTC")
REPLAY_START = ANCHOR + pd.Timedelta(days=2)
MANIFEST = ".fast-replay.json"


def relabel(frame: pd.DataFrame) -> pd.DataFrame:
    """Each candle's distance from ANCHOR divided by SPEEDUP: consecutive 30m candles become
    consecutive 1m candles, and a missing one stays missing."""
    out = frame.copy()
    out["date"] = ANCHOR + (out["date"] - ANCHOR) / SPEEDUP
    return out


def build(source_dir: Path, target_dir: Path, pairs: list[str]) -> Path:
    """Write the 1m files of `pairs` into `target_dir` (skipped when already built from the same
    source files)."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType
    from freqtrade.misc import pair_to_filename

    sources = {p: source_dir / f"{pair_to_filename(p)}-{SOURCE_TIMEFRAME}.feather" for p in pairs}
    missing = [str(path) for path in sources.values() if not path.is_file()]
    if missing:
        raise FreqaiSeqError(f"The fast replay needs {SOURCE_TIMEFRAME} candles: missing "
                             f"{', '.join(missing)}; run `freqai-seq data`.")
    stamp = {p: path.stat().st_mtime_ns for p, path in sources.items()}
    manifest = target_dir / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()) == stamp:
        return target_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    reader = get_datahandler(source_dir, "feather")
    writer = get_datahandler(target_dir, "feather")
    for pair in pairs:
        frame = reader.ohlcv_load(pair, SOURCE_TIMEFRAME, CandleType.SPOT, fill_missing=False,
                                  warn_no_data=False)
        if frame.empty or frame["date"].iloc[0] < ANCHOR:
            raise FreqaiSeqError(f"{sources[pair]} is empty or starts before {ANCHOR.date()}.")
        writer.ohlcv_store(pair, FAST_TIMEFRAME, relabel(frame), CandleType.SPOT)
    manifest.write_text(json.dumps(stamp))
    logger.info("Fast replay: %s candles of %s relabelled as %s in %s", SOURCE_TIMEFRAME,
                ", ".join(pairs), FAST_TIMEFRAME, target_dir)
    return target_dir


def overlay() -> dict:
    """Config changes for the relabelled market: 1m candles, one relabelled day to train on."""
    return {"timeframe": FAST_TIMEFRAME,
            "freqai": {"train_period_days": 1,
                       "feature_parameters": {"include_timeframes": [FAST_TIMEFRAME]}}}
