"""FreqAI's live candle history keeps datetime dates when new candles are appended.

FreqAI loads the history from disk (dates in milliseconds) and appends the data provider's new
candles (microseconds); pandas 3 concatenates the two as an object column, after which every
retraining of the pair failed ("Can only use .dt accessor with datetimelike values")."""

from __future__ import annotations

from pathlib import Path

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
