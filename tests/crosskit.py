"""Cross-pair training driven through FreqAI's real data kitchen and pipelines on synthetic
multi-pair frames, without the freqtrade backtesting loop around it. The strategy here only
sets targets (the synthetic frames already hold them), as FreqAI's backtest asks a strategy to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.configuration import TimeRange
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from freqtrade.freqai.utils import get_tb_logger

from freqai_seq.model.regressor import SequenceRegressor
from tests.seqkit import make_config

CORR = "P0/USD"
START = "2021-01-01"


DISTRACTORS = 12


def pair_frame(pair: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Inputs a, b, c and noise columns d0.. (own) and a corr block; the target is a lagged rule
    shared by every pair, 0.6 a[t-2] - 0.6 b[t-4] sign(c[t-1]), plus noise. Among the noise
    columns, a month of one pair is too little to find it."""
    a, b, c, noise = rng.normal(size=(4, n))
    target = 0.6 * np.roll(a, 2) - 0.6 * np.roll(b, 4) * np.sign(np.roll(c, 1)) + 0.5 * noise
    target[:4] = np.nan
    columns = {f"%-a_{pair}_1h": a, f"%-b_{pair}_1h": b, f"%-c_{pair}_1h": c,
               **{f"%-d{i}_{pair}_1h": rng.normal(size=n) for i in range(DISTRACTORS)}}
    return pd.DataFrame({"date": pd.date_range(START, periods=n, freq="1h", tz="UTC"),
                         **columns, "&-target": target})


def pair_frames(pairs: list[str], n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Each pair's frame plus the corr pair's own inputs as a corr block (FreqAI leaves that
    block out of the corr pair itself)."""
    rng = np.random.default_rng(seed)
    frames = {p: pair_frame(p, n, rng) for p in sorted({*pairs, CORR})}
    corr = frames[CORR]
    for pair in pairs:
        if pair != CORR:
            for col in [c for c in corr if c.startswith("%")]:
                frames[pair][col] = corr[col].to_numpy()
            frames[pair] = frames[pair][[c for c in frames[pair] if c != "&-target"]
                                        + ["&-target"]]
    return {p: frames[p] for p in pairs}


class TargetsOnly:
    """What FreqAI's backtest asks of a strategy for another pair's training rows."""

    def set_freqai_targets(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe


def cross_config(tmp_path: Path, pairs: list[str], **params) -> dict:
    config = make_config(tmp_path, **{"cross_pair": True, **params})
    config["exchange"]["pair_whitelist"] = list(pairs)
    config["freqai"]["feature_parameters"]["include_corr_pairlist"] = [CORR]
    return config


def train_window(model_cls: type[SequenceRegressor], config: dict,
                 frames: dict[str, pd.DataFrame], pair: str, stop: str,
                 regressor: SequenceRegressor | None = None,
                 ) -> tuple[SequenceRegressor, FreqaiDataKitchen]:
    """Train `pair`'s model of the window ending at `stop` the way FreqAI's backtest does:
    the other pairs' rows come from the populated frames."""
    regressor = regressor or model_cls(config=config)
    regressor.live = False  # set by FreqAI's start()
    regressor.strategy = TargetsOnly()
    regressor.populated_frames = dict(frames)
    timerange = TimeRange.parse_timerange(f"{START.replace('-', '')}-{stop}")
    regressor.training_timerange = timerange
    stop_ts = int(timerange.stopts)
    dk = FreqaiDataKitchen(config, live=False, pair=pair)
    dk.set_paths(pair, stop_ts)
    frame = dk.slice_dataframe(timerange, frames[pair])
    dk.find_features(frame)
    dk.find_labels(frame)
    regressor.tb_logger = get_tb_logger("pytorch", dk.data_path, False)
    regressor.model = regressor.train(frame, pair, dk)
    return regressor, dk
