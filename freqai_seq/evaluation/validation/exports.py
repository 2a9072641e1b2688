"""What FreqAI exported for one identifier: prediction files, sub-train folders, live history.

Layout (freqtrade 2026.9): `backtesting_predictions/cb_<coin>_<start ts>_prediction.feather`, one
per backtest window; `sub-train-<COIN>_<start ts>/` with `<name>_metadata.json`, and with
`save_backtest_models: true` also `<name>_model.*` and the pickled feature / label pipelines;
`historic_predictions.pkl` in live and dry-run; `run_params.json` with the FreqAI settings.
"""

from __future__ import annotations

import logging
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.json_files import read_json_object

logger = logging.getLogger(__name__)

PREDICTION_FILE = re.compile(r"^cb_(?P<coin>.+)_(?P<ts>\d+)_prediction\.feather$")
SUB_TRAIN = re.compile(r"^sub-train-(?P<coin>.+)_(?P<ts>\d+)$")
PREDICTION_COLUMNS = ("date", "do_predict")  # what scoring reads besides the labels


@dataclass(frozen=True)
class SubTrain:
    """One trained model of the walk-forward: it predicted the window starting at `start_ts`."""

    coin: str
    start_ts: int
    folder: Path
    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.metadata.get("model_filename", f"cb_{self.coin.lower()}_{self.start_ts}"))

    def file(self, suffix: str) -> Path:
        return self.folder / f"{self.name}_{suffix}"

    @property
    def model_file(self) -> Path | None:
        found = sorted(self.folder.glob(f"{self.name}_model.*"))
        return found[0] if found else None


@dataclass
class ExportedRun:
    folder: Path
    identifier: str
    run_params: dict[str, Any]
    # pair -> one frame per backtest window, keyed by the window's start timestamp
    windows: dict[str, dict[int, pd.DataFrame]] = field(default_factory=dict)
    sub_trains: dict[str, list[SubTrain]] = field(default_factory=dict)
    live: dict[str, pd.DataFrame] = field(default_factory=dict)
    # exported files that could not be read: each was skipped, the rest is validated
    problems: list[str] = field(default_factory=list)

    def predictions(self, pair: str) -> pd.DataFrame:
        """All backtest predictions of a pair in time order."""
        parts = [self.windows[pair][ts] for ts in sorted(self.windows.get(pair, {}))]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def keep_windows(self, start_ts: int | None, stop_ts: int | None) -> int:
        """Drop prediction windows starting outside [start, stop): FreqAI leaves the files of
        earlier runs with the same identifier in the folder. Returns how many were dropped."""
        def outside(ts: int) -> bool:
            return bool((start_ts and ts < start_ts) or (stop_ts and ts >= stop_ts))

        dropped = 0
        for windows in self.windows.values():
            for ts in [ts for ts in windows if outside(ts)]:
                del windows[ts]
                dropped += 1
        for pair, subs in self.sub_trains.items():
            self.sub_trains[pair] = [s for s in subs if not outside(s.start_ts)]
        return dropped

    @property
    def pairs(self) -> list[str]:
        return sorted(set(self.windows) | set(self.live))


def coin_of(pair: str) -> str:
    """FreqAI names files by the pair's base currency."""
    return pair.split("/")[0]


def _read_predictions(path: Path) -> pd.DataFrame:
    """One prediction file; raises when it is damaged or lacks the columns scoring needs."""
    frame = pd.read_feather(path)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    return frame


def load_export(folder: Path, pairs: list[str] | None = None) -> ExportedRun:
    """Everything readable in `folder`; a damaged file is skipped and listed in `problems`, and
    only an export without one usable prediction file is refused."""
    if not folder.is_dir():
        raise FreqaiSeqError(f"{folder} is not a FreqAI model folder (pass --models "
                             "user_data/models/<identifier>).")
    params_file = folder / "run_params.json"
    run_params = read_json_object(params_file, "FreqAI's") if params_file.exists() else {}
    pairs = pairs or list(run_params.get("pairs") or [])
    by_coin = {coin_of(p).lower(): p for p in pairs}
    run = ExportedRun(folder, folder.name, run_params)
    unknown: set[str] = set()
    unreadable: list[str] = []  # files of predictions, each with its error
    for path in sorted((folder / "backtesting_predictions").glob("*_prediction.feather")):
        match = PREDICTION_FILE.match(path.name)
        pair = by_coin.get(match["coin"]) if match else None
        if pair is None:
            unknown.add(path.name)
            continue
        try:
            frame = _read_predictions(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            unreadable.append(f"{path} ({type(exc).__name__}: {exc})")
            run.problems.append(f"prediction file {unreadable[-1]} is unreadable: skipped, so "
                                "its window is not scored")
            continue
        run.windows.setdefault(pair, {})[int(match["ts"])] = frame
    for path in sorted(folder.glob("sub-train-*")):
        match = SUB_TRAIN.match(path.name)
        pair = by_coin.get(match["coin"].lower()) if match else None
        meta = sorted(path.glob("*_metadata.json"))
        if pair is None or not meta:
            continue
        try:
            metadata = read_json_object(meta[0], "FreqAI's model metadata")
        except FreqaiSeqError as err:
            run.problems.append(f"model analysis: {err}; that model is skipped")
            continue
        run.sub_trains.setdefault(pair, []).append(
            SubTrain(match["coin"], int(match["ts"]), path, metadata))
    historic = folder / "historic_predictions.pkl"
    if historic.exists():
        try:
            with historic.open("rb") as fh:
                live = pickle.load(fh)  # written by FreqAI's data drawer with cloudpickle
            # FreqAI keeps the candle date of live predictions in `date_pred`.
            run.live = {p: df.rename(columns={"date_pred": "date"}).assign(
                            date=lambda f: pd.to_datetime(f["date"], utc=True))
                        for p, df in live.items() if p in pairs or not pairs}
        except Exception as exc:  # unpickling a damaged file raises almost anything
            unreadable.append(f"{historic} ({type(exc).__name__}: {exc})")
            run.problems.append(f"live predictions {unreadable[-1]} are unreadable: live "
                                "forecasts not scored")
    if unknown:
        logger.warning("%d prediction files belong to no pair of %s and were ignored (first: %s)",
                       len(unknown), pairs, sorted(unknown)[0])
    if not run.windows and not run.live and unreadable:
        raise FreqaiSeqError(
            f"No usable predictions in {folder}: its {len(unreadable)} prediction file(s) are "
            f"unreadable, the first {unreadable[0]}. Run the backtest (or dry-run) with this "
            "identifier again.")
    if not run.windows and not run.live:
        raise FreqaiSeqError(
            f"No predictions in {folder}: neither backtesting_predictions/*_prediction.feather "
            f"for the pairs {pairs} nor historic_predictions.pkl. Run a FreqAI backtest (or "
            "dry-run) with this identifier first.")
    for subs in run.sub_trains.values():
        subs.sort(key=lambda s: s.start_ts)
    return run
