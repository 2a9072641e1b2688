"""Bad candles are named (pair, timeframe, date) and refused, or warned about, never merged
silently: the checks on the real bundled data and on synthetic files with one defect each."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from freqai_seq.data.candle_checks import (
    available_candles,
    check_candle_files,
    raise_on_bad_candles,
)
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.candles import CandleStore
from freqai_seq.market.clock import HistoricalClock
from freqai_seq.market.process import stop
from tests.conftest import run_cli

START = pd.Timestamp("2019-01-01", tz="UTC")


def _candles(n: int = 200) -> pd.DataFrame:
    """Synthetic 1h candles with consistent prices and positive volume."""
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame({
        "date": pd.date_range(START, periods=n, freq="1h"), "open": open_,
        "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998,
        "close": close, "volume": np.full(n, 10.0)})


def _store(datadir: Path, frame: pd.DataFrame, pair: str = "BTC/USD") -> Path:
    get_datahandler(datadir, "feather").ohlcv_store(pair, "1h", frame, CandleType.SPOT)
    return datadir


def _refusal(datadir: Path) -> str:
    with pytest.raises(FreqaiSeqError) as err:
        raise_on_bad_candles(datadir, ["BTC/USD"], ["1h"])
    return str(err.value)


def test_bundled_data_passes_every_check_quickly(datadir: Path) -> None:
    files = available_candles(datadir)
    pairs = sorted({p for p, _ in files})
    assert len(pairs) == 5 and {tf for _, tf in files} == {"1h", "30m"}
    started = time.perf_counter()
    assert check_candle_files(datadir, pairs, ["1h", "30m"]) == []
    assert time.perf_counter() - started < 2.0  # it runs before every backtest


def test_duplicated_timestamps_are_refused_not_merged(tmp_path: Path) -> None:
    frame = _candles()
    duplicates = frame.iloc[[10, 11, 50, 60]].assign(close=lambda f: f["close"] * 1.05)
    _store(tmp_path, pd.concat([frame, duplicates], ignore_index=True))
    message = _refusal(tmp_path)
    assert ("1h candles of BTC/USD in BTC_USD-1h.feather: 4 duplicated timestamp(s) at "
            "2019-01-01 10:00, 2019-01-01 11:00, 2019-01-03 02:00, ...") in message
    with pytest.raises(FreqaiSeqError, match="duplicated timestamp"):
        CandleStore.from_datadir(tmp_path, HistoricalClock())


@pytest.mark.parametrize("price", [np.nan, 0.0, -1.0, np.inf])
def test_a_bad_price_in_the_newest_candle_stops_the_market_loading(tmp_path: Path,
                                                                   price: float) -> None:
    """Before, the store loaded it and every ticker request answered HTTP 500."""
    frame = _candles()
    frame.loc[len(frame) - 1, "close"] = price
    _store(tmp_path, frame)
    with pytest.raises(FreqaiSeqError) as err:
        CandleStore.from_datadir(tmp_path, HistoricalClock())
    assert (f"1h candles of BTC/USD in BTC_USD-1h.feather: 1 candle(s) with a NaN, infinite, "
            f"zero or negative price at 2019-01-09 07:00 (first: close={price})") in str(err.value)


def test_market_start_fails_with_the_bad_candle_named(tmp_path: Path) -> None:
    frame = _candles()
    frame.loc[len(frame) - 1, "close"] = np.nan
    frame.loc[20, "volume"] = -1.0
    frame.loc[30, "high"] = frame.loc[30, "low"] / 2
    frame = pd.concat([frame, frame.iloc[[40]]]).sort_values("date", kind="stable")
    datadir = _store(tmp_path / "data", frame)
    state_file = tmp_path / "m.json"
    result = run_cli("market", "start", "--datadir", str(datadir), "--port", "0",
                     "--state-file", str(state_file), "--market-log", str(tmp_path / "m.log"),
                     timeout=120)
    if result.returncode == 0:
        stop(state_file)  # a market that started by mistake must not outlive the test
    assert result.returncode == 2
    assert "BTC/USD in BTC_USD-1h.feather: 1 candle(s) with a NaN" in result.stderr
    assert "2019-01-09 07:00" in result.stderr and "Traceback" not in result.stderr
    # every problem reaches the user, not only the last lines of the market's log
    assert "Bad candles in" in result.stderr and "(4 problem(s)" in result.stderr
    assert not state_file.exists()


def test_volume_and_range_defects_are_refused_and_all_listed(tmp_path: Path) -> None:
    frame = _candles()
    frame.loc[20, "volume"] = -3.0
    frame.loc[21, "volume"] = np.nan
    frame.loc[30, ["high", "low"]] = frame.loc[30, ["low", "high"]].to_numpy()  # swapped
    frame.loc[40, "close"] = frame.loc[40, "high"] * 1.01
    _store(tmp_path, frame)
    lines = _refusal(tmp_path).splitlines()
    assert lines[0].startswith(f"Bad candles in {tmp_path} (2 problem(s), one per line)")
    assert lines[1] == ("1h candles of BTC/USD in BTC_USD-1h.feather: 2 candle(s) with a NaN, "
                        "infinite or negative volume at 2019-01-01 20:00, 2019-01-01 21:00; "
                        "correct or delete these rows")
    assert "2 candle(s) whose high is below the low or whose open or close lies outside " \
           "[low, high], at 2019-01-02 06:00, 2019-01-02 16:00" in lines[2]


def test_short_zero_volume_runs_are_warnings(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    frame = _candles()
    frame.loc[[5, 80], "volume"] = 0.0
    frame.loc[100:122, "volume"] = 0.0  # 23 hours: just under a day
    _store(tmp_path, frame)
    with caplog.at_level(logging.WARNING):
        store = CandleStore.from_datadir(tmp_path, HistoricalClock())
    assert store.instruments["BTCUSD"].series["1h"].ohlcv.shape == (200, 5)
    (problem,) = check_candle_files(tmp_path, ["BTC/USD"], ["1h"])
    assert not problem.refuse
    assert str(problem) == (
        "1h candles of BTC/USD in BTC_USD-1h.feather: 25 zero-volume candle(s) at "
        "2019-01-01 05:00, 2019-01-04 08:00, 2019-01-05 04:00, ..., the longest run 23 "
        "candle(s) from 2019-01-05 04:00: tolerated, as runs shorter than a day are")
    assert f"Candle warning: {problem}" in caplog.text


@pytest.mark.parametrize(("zero_rows", "dropped", "start"), [
    (slice(150, None), [], "2019-01-07 06:00"),  # the volume is gone from some date on
    (slice(100, 123), slice(110, 115), "2019-01-05 04:00"),  # 19 rows around a 5-hour gap
])
def test_a_day_without_volume_is_refused(tmp_path: Path, zero_rows: slice, dropped: slice | list,
                                         start: str) -> None:
    """FreqAI's relative-volume feature is NaN over such a run and its trainings fail."""
    frame = _candles()
    frame.loc[zero_rows, "volume"] = 0.0
    _store(tmp_path, frame.drop(index=frame.index[dropped]))
    (problem,) = check_candle_files(tmp_path, ["BTC/USD"], ["1h"])
    assert problem.refuse
    assert f"no volume for {24 if dropped else 50} candles from {start}" in str(problem)


def test_missing_and_unreadable_files_are_named(tmp_path: Path) -> None:
    _store(tmp_path, _candles())
    (tmp_path / "ETH_USD-1h.feather").write_bytes(b"not a feather file")
    problems = check_candle_files(tmp_path, ["BTC/USD", "ETH/USD", "LTC/USD"], ["1h"])
    assert [(p.pair, p.refuse) for p in problems] == [("ETH/USD", True), ("LTC/USD", True)]
    assert "ETH_USD-1h.feather: unreadable (ArrowInvalid" in str(problems[0])
    assert "LTC_USD-1h.feather: no such file; run `freqai-seq data`" in str(problems[1])


def _with_gaps(*hours: tuple[int, int]) -> pd.DataFrame:
    """400 synthetic 1h candles without the rows of each (first, count) span."""
    frame = _candles(400)
    for first, count in hours:
        frame = frame.drop(index=range(first, first + count))
    return frame


def test_a_gap_of_a_day_or_more_is_refused_with_its_dates(tmp_path: Path) -> None:
    """Before, an 8-day gap passed silently (freqtrade fills it with zero-volume candles)."""
    _store(tmp_path, _with_gaps((100, 192), (320, 23)))  # 8 days refused; 23 hours pass
    message = _refusal(tmp_path)
    assert ("1h candles of BTC/USD in BTC_USD-1h.feather: 1 gap(s) of 1 day(s) or more without "
            "candles, missing 2019-01-05 04:00 to 2019-01-13 03:00 (the longest 192 candles, "
            "8 day(s))") in message
    assert message.endswith("accept it with FREQAI_SEQ_MAX_CANDLE_GAP=9d")
    with pytest.raises(FreqaiSeqError, match="gap"):
        CandleStore.from_datadir(tmp_path, HistoricalClock())


def test_the_gap_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path, _with_gaps((100, 192), (320, 23)))
    monkeypatch.setenv("FREQAI_SEQ_MAX_CANDLE_GAP", "9d")
    assert check_candle_files(tmp_path, ["BTC/USD"], ["1h"]) == []
    monkeypatch.setenv("FREQAI_SEQ_MAX_CANDLE_GAP", "20h")
    (problem,) = check_candle_files(tmp_path, ["BTC/USD"], ["1h"])
    assert problem.refuse and "2 gap(s) of 20 hour(s) or more" in str(problem)
    assert "2019-01-14 08:00 to 2019-01-15 06:00" in str(problem)
    monkeypatch.setenv("FREQAI_SEQ_MAX_CANDLE_GAP", "8.5D")
    assert check_candle_files(tmp_path, ["BTC/USD"], ["1h"]) == []
    for bad in ("soon", "-1d", "0h", "2w"):
        monkeypatch.setenv("FREQAI_SEQ_MAX_CANDLE_GAP", bad)
        with pytest.raises(FreqaiSeqError, match=f"FREQAI_SEQ_MAX_CANDLE_GAP='{bad}' is not a "
                                                 "positive number of hours or days"):
            check_candle_files(tmp_path, ["BTC/USD"], ["1h"])
