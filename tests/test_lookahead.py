"""`freqai-seq lookahead`: freqtrade's lookahead-analysis of the LSTM strategy, and the verdict
built from the differences behind freqtrade's table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqai_seq.market.process import MarketState
from freqai_seq.runs.lookahead import (
    Difference,
    explain,
    parse_table,
    read_records,
    record_differences,
    throwaway_identifier,
)
from tests.conftest import run_cli

TABLE = (  # freqtrade's table as printed on a wide terminal, narrowed
    "┃ filename ┃ strategy ┃ has_bias ┃ total_signals ┃ biased_entry_signals ┃ "
    "biased_exit_signals ┃ biased_indicators ┃\n"
    "┡━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━╇━━┩\n"
    "│ FreqaiSeqStrategy.py │ FreqaiSeqStrategy │      Yes │            20 │          0 │ "
    "         1 │ &-ret_12, do_predict │\n"
    "└──────────┴──────────┴──────────┴───────────────┴──────────────────────┴──────────┘\n"
)


def test_parse_table_reads_the_strategy_row() -> None:
    result = parse_table(TABLE, "FreqaiSeqStrategy")
    assert result is not None
    assert (result.has_bias, result.total_signals, result.biased_entry_signals,
            result.biased_exit_signals) == ("Yes", 20, 0, 1)
    assert result.biased_indicators == ("&-ret_12", "do_predict")
    assert result.non_target_indicators == ("do_predict",)
    assert result.signal_problems() == [
        "1 of 20 exit signals change when later candles are removed"]
    assert parse_table(TABLE, "OtherStrategy") is None


def test_too_few_trades_is_a_failed_check() -> None:
    line = "│ S.py │ S │ too few trades caught (3/10).Test failed. │  │  │  │  │"
    result = parse_table(line, "S")
    assert result is not None and result.total_signals is None
    assert "did not complete" in result.signal_problems()[0]


def test_throwaway_identifier_is_unique_per_second_and_marked() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert throwaway_identifier("PyTorchLSTMRegressor", now) == \
        "lookahead-pytorchlstmregressor-20260102T030405Z"


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A full and a cut FreqAI dataframe: 3 candles FreqAI filled (no model yet), then
    predictions; the cut run ends one candle later than its last prediction."""
    dates = pd.date_range("2019-08-01", periods=7, freq="1h", tz="UTC")
    full = pd.DataFrame({
        "date": dates, "close": [1.0, 2, 3, 4, 5, 6, 7],
        "&-ret_12": [0.0, 0, 0, 0.01, 0.02, 0.03, 0.04],
        "&-ret_12_std": [0.0, 0, 0, 0.03, 0.03, 0.03, 0.03],
        "do_predict": [0, 0, 0, 1, 1, 1, 1],
        "entry_threshold": [0.0, 0, 0, 0.005, 0.005, 0.005, 0.005],
        "enter_long": [np.nan, np.nan, np.nan, 1, np.nan, 1, 1],
    })
    cut = full.iloc[:6].copy()
    cut.loc[5, ["&-ret_12", "&-ret_12_std", "do_predict", "entry_threshold"]] = 0
    cut.loc[5, "enter_long"] = np.nan
    return full, cut


def test_missing_prediction_on_the_cut_end_is_not_look_ahead(tmp_path: Path) -> None:
    full, cut = _frames()
    cut.loc[4, "&-ret_12"] = 0.02 + 1e-9  # float32 rounding of a batched forward pass
    record = tmp_path / "r.jsonl"
    record_differences(record, full, cut, "BTC/USD")
    explanation = explain(read_records(record))
    assert explanation.comparisons == 1
    assert {d.column for d in explanation.boundary} == {
        "&-ret_12", "&-ret_12_std", "do_predict", "entry_threshold", "enter_long"}
    assert [d.date for d in explanation.rounding] == [str(cut.loc[4, "date"])]
    assert explanation.unexplained == []


def test_a_peeking_column_is_look_ahead_even_on_the_cut_end(tmp_path: Path) -> None:
    full, cut = _frames()
    full["next_close"] = full["close"].shift(-1)
    cut["next_close"] = cut["close"].shift(-1)  # NaN on the cut's last candle only
    cut.loc[3, "&-ret_12"] = 0.011  # a prediction that changed: not rounding
    record = tmp_path / "r.jsonl"
    record_differences(record, full, cut, "BTC/USD")
    unexplained = {(d.date[11:16], d.column) for d in explain(read_records(record)).unexplained}
    assert unexplained == {("05:00", "next_close"), ("03:00", "&-ret_12")}


def test_rounding_is_measured_against_the_label_spread() -> None:
    def diff(full: float, cut: float, scale: float | None) -> Difference:
        return Difference("P", "d", "&-ret_12", full, cut, False, True, False, scale)

    assert diff(0.0004057553, 0.0004057616, 0.036).rounding  # 2e-7 of a label std
    assert not diff(0.0004, 0.0009, 0.036).rounding
    assert not Difference("P", "d", "%-rsi", 1.0, 1.0 + 1e-12, False, True, False).rounding


# ---------------------------------------------------------------------- real freqtrade
PEEKING_STRATEGY = '''
from freqai_seq.strategy.base import SeqStrategyBase


class PeekingSeqStrategy(SeqStrategyBase):
    """A feature that sees two candles ahead."""

    def feature_engineering_standard(self, dataframe, metadata, **kwargs):
        dataframe = super().feature_engineering_standard(dataframe, metadata, **kwargs)
        dataframe["%-return_in_2"] = dataframe["close"].shift(-2) / dataframe["close"] - 1
        return dataframe
'''


def _lookahead(market: MarketState, market_dir: Path, userdir: Path,
               *args: str) -> tuple[int, str, str, str]:
    short = userdir.parent / "short-training.json"  # 30 days, whatever config.json says
    short.write_text('{"freqai": {"train_period_days": 30}}')
    result = run_cli("lookahead", "-c", "config.json", "-c", str(short),
                     "--userdir", str(userdir), "--port", str(market.port),
                     "--state-file", str(market_dir / "market.json"), "--datadir",
                     market.datadir, "--timerange", "20190801-20190815", *args)
    found = re.search(r"FreqAI identifier (lookahead-pytorchlstmregressor-\d{8}T\d{6}Z)",
                      result.stderr)
    assert found, result.stderr[-3000:]
    return result.returncode, result.stdout, result.stderr, found.group(1)


@pytest.mark.integration
def test_lstm_strategy_has_no_look_ahead_bias(market: MarketState, market_dir: Path,
                                              tmp_path: Path) -> None:
    userdir = tmp_path / "user_data"
    real = userdir / "models" / "pytorchlstmregressor-freqaiseqstrategy"
    real.mkdir(parents=True)
    (real / "keep.txt").write_text("a real run's models")
    code, stdout, stderr, identifier = _lookahead(
        market, market_dir, userdir, "--minimum-trade-amount", "5", "--targeted-trade-amount",
        "10")
    assert code == 0, stdout[-4000:] + stderr[-2000:]
    # params/lookahead.json trains cross-pair, as config.json does: the cut runs, which keep
    # only the trade's pair, still train the shared network on both pairs
    assert "every cut backtest trains the shared network on BTC/USD, ETH/USD" in stderr
    result = parse_table(stdout, "FreqaiSeqStrategy")
    assert result is not None
    assert result.total_signals is not None and result.total_signals >= 5
    assert result.biased_entry_signals == 0 and result.biased_exit_signals == 0
    # every column freqtrade flags besides the `&` ones differs only on the cut's last candle,
    # which FreqAI leaves without prediction
    boundary = re.search(r"where FreqAI made no prediction: (.*) \(not look-ahead\)", stdout)
    assert boundary, stdout[-3000:]
    assert set(result.non_target_indicators) <= set(boundary.group(1).split(", "))
    assert "anything else: 0 difference(s)" in stdout
    assert "no look-ahead bias in" in stderr
    # the throw-away identifier is gone, the real run untouched
    assert not (userdir / "models" / identifier).exists()
    assert not list((userdir / "runs").glob(f"{identifier}*"))
    assert (real / "keep.txt").read_text() == "a real run's models"


@pytest.mark.integration
def test_a_peeking_feature_fails_the_check(market: MarketState, market_dir: Path,
                                           tmp_path: Path) -> None:
    """The negative control: freqtrade's table looks like the clean strategy's (FreqAI drops
    `%` features from the strategy's dataframe), the candle-by-candle record does not."""
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "PeekingSeqStrategy.py").write_text(PEEKING_STRATEGY)
    code, stdout, stderr, identifier = _lookahead(
        market, market_dir, tmp_path / "user_data", "--strategy", "PeekingSeqStrategy",
        "--minimum-trade-amount", "3", "--targeted-trade-amount", "3", "--",
        "--strategy-path", str(strategies))
    assert code == 1, stdout[-4000:] + stderr[-2000:]
    assert "fails the look-ahead check" in stderr
    assert "change when later candles are removed" in stderr
    assert re.search(r"do_predict: 1\.0 \(full\) != 0\.0 \(cut\)", stdout)
    assert not (tmp_path / "user_data" / "models" / identifier).exists()


def test_records_are_json_lines(tmp_path: Path) -> None:
    full, cut = _frames()
    record = tmp_path / "r.jsonl"
    record_differences(record, full, cut, "ETH/USD")
    record_differences(record, full, cut, "ETH/USD")
    lines = record.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["cut_end"] == str(cut["date"].iloc[-1])
