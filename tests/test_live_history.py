"""FreqAI's live candle history keeps datetime dates when new candles are appended.

FreqAI loads the history from disk (dates in milliseconds) and appends the data provider's new
candles (microseconds); pandas 3 concatenates the two as an object column, after which every
retraining of the pair failed ("Can only use .dt accessor with datetimelike values")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.configuration import Configuration, TimeRange
from freqtrade.data.converter import ohlcv_to_dataframe
from freqtrade.enums import RunMode
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from freqai_seq.model.drawer import CrashSafeDataDrawer
from tests.conftest import ROOT

PAIRS = ["BTC/USD", "ETH/USD"]


class NewCandles:
    """The data provider's view in live mode: the exchange's latest candles, as freqtrade
    converts them (the last stored candle and two new ones)."""

    def __init__(self, drawer: CrashSafeDataDrawer) -> None:
        self.drawer = drawer

    def get_pair_dataframe(self, pair: str, timeframe: str) -> pd.DataFrame:
        last = self.drawer.historic_data[pair][timeframe]["date"].iloc[-1]
        rows = [[int((last + pd.Timedelta(hours=i)).timestamp() * 1000), 1.0, 1.0, 1.0, 1.0,
                 1.0] for i in range(3)]
        return ohlcv_to_dataframe(rows, timeframe, pair, fill_missing=False,
                                  drop_incomplete=False)


class Strategy:
    def __init__(self, dp: NewCandles) -> None:
        self.dp = dp


def test_appended_live_candles_keep_datetime_dates(tmp_path: Path, datadir: Path) -> None:
    config = Configuration.from_files([str(ROOT / "config.json")])
    config.update(runmode=RunMode.DRY_RUN, datadir=datadir, user_data_dir=tmp_path)
    config["exchange"]["pair_whitelist"] = PAIRS
    drawer = CrashSafeDataDrawer(tmp_path / "models" / "x", config)
    dk = FreqaiDataKitchen(config, live=True, pair=PAIRS[0])
    drawer.load_all_pair_histories(TimeRange.parse_timerange("20190901-20191001"), dk)
    before = {p: len(drawer.historic_data[p]["1h"]) for p in PAIRS}
    drawer.update_historic_data(Strategy(NewCandles(drawer)), dk)
    for pair in PAIRS:
        history = drawer.historic_data[pair]["1h"]
        assert len(history) == before[pair] + 2
        assert pd.api.types.is_datetime64_any_dtype(history["date"]), history["date"].dtype
        assert history["date"].dt.hour.notna().all()


def _live_predictions(drawer: CrashSafeDataDrawer, dk: FreqaiDataKitchen, pair: str,
                      dates: pd.Series) -> None:
    """One live candle through FreqAI's own append: the prediction of the frame's last row."""
    frame = pd.DataFrame({"date": dates, "high": 2.0, "low": 1.0, "close": 1.5})
    predictions = pd.DataFrame({"&-ret_12": [float(len(dates))]})
    drawer.append_model_predictions(pair, predictions, np.array([1]), dk, frame)


def test_historic_predictions_keep_only_the_newest_rows(tmp_path: Path) -> None:
    """FreqAI appends a row per candle forever; the drawer keeps the newest
    `historic_predictions_max_rows`, never fewer than the strategy's frame."""
    config = Configuration.from_files([str(ROOT / "config.json")])
    config.update(runmode=RunMode.DRY_RUN, user_data_dir=tmp_path)
    config["freqai"]["model_training_parameters"]["historic_predictions_max_rows"] = 50
    drawer = CrashSafeDataDrawer(tmp_path / "models" / "x", config)
    dk = FreqaiDataKitchen(config, live=True, pair=PAIRS[0])
    dk.data = {"labels_mean": {"&-ret_12": 0.0}, "labels_std": {"&-ret_12": 1.0},
               "extra_returns_per_train": {}}
    dates = pd.Series(pd.date_range("2019-09-01", periods=200, freq="1h", tz="UTC"))
    columns = ["date_pred", "&-ret_12", "&-ret_12_mean", "&-ret_12_std", "do_predict",
               "high_price", "low_price", "close_price"]
    drawer.historic_predictions[PAIRS[0]] = pd.DataFrame(
        {c: (dates.iloc[:30] if c == "date_pred" else 0.0) for c in columns})
    for end in range(31, 121):  # 90 live candles, frames of 30 candles
        _live_predictions(drawer, dk, PAIRS[0], dates.iloc[end - 30:end])
    history = drawer.historic_predictions[PAIRS[0]]
    assert len(history) == 50
    assert history["date_pred"].iloc[-1] == dates.iloc[119]
    assert history["date_pred"].is_monotonic_increasing and history.index[0] == 0
    assert drawer.model_return_values[PAIRS[0]]["&-ret_12"].iloc[-1] == 30.0
    # a strategy frame longer than the cap: the rows of the whole frame are kept
    for end in range(121, 141):
        _live_predictions(drawer, dk, PAIRS[0], dates.iloc[end - 60:end])
    assert len(drawer.historic_predictions[PAIRS[0]]) == 60
