"""The offline market, driven by ccxt's own binance class as freqtrade uses it."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import ccxt
import pandas as pd
import pytest
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market import DEFAULT_PORT
from freqai_seq.market.candles import CandleStore
from freqai_seq.market.clock import WEEK_MS, HistoricalClock, ReplayClock
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.market.process import MarketState, read_state, running_state, start, stop
from tests.conftest import ROOT, CommandRun, run_cli

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def exchange(market: MarketState) -> ccxt.binance:
    overlay = offline_overlay(market.host, market.port)["exchange"]["ccxt_config"]
    api = ccxt.binance(overlay)
    api.load_markets()
    return api


def _get(market: MarketState, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(market.base_url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _btc_1h(datadir: Path) -> pd.DataFrame:
    return get_datahandler(datadir, "feather").ohlcv_load("BTC/USD", "1h", CandleType.SPOT,
                                                           fill_missing=False)


def test_load_markets_lists_the_pairs_with_realistic_limits(exchange: ccxt.binance) -> None:
    for coin in ("BTC", "ETH", "LTC", "XRP", "EOS"):
        market = exchange.market(f"{coin}/USD")
        assert market["spot"] and market["active"]
        assert market["precision"]["price"] > 0 and market["precision"]["amount"] > 0
        assert market["limits"]["cost"]["min"] == 5.0
    assert exchange.market("BTC/USD")["precision"]["price"] == pytest.approx(0.01)
    assert not any(m["contract"] for m in exchange.markets.values())


def test_fetch_ohlcv_with_since_and_limit_returns_the_file_rows(exchange: ccxt.binance,
                                                               datadir: Path) -> None:
    stored = _btc_1h(datadir)
    since = pd.Timestamp("2019-03-01", tz="UTC")
    rows = exchange.fetch_ohlcv("BTC/USD", "1h", since=int(since.timestamp() * 1000), limit=50)
    expected = stored[stored["date"] >= since].head(50)
    assert len(rows) == 50
    assert [r[0] for r in rows] == [int(d.timestamp() * 1000) for d in expected["date"]]
    got = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
    for name in ("open", "high", "low", "close", "volume"):
        assert got[name].to_numpy() == pytest.approx(expected[name].to_numpy(), rel=1e-9)


def test_fetch_ohlcv_without_since_returns_the_newest(exchange: ccxt.binance,
                                                     datadir: Path) -> None:
    stored = _btc_1h(datadir)
    rows = exchange.fetch_ohlcv("BTC/USD", "1h", limit=3)
    assert [r[0] for r in rows] == [int(d.timestamp() * 1000) for d in stored["date"].tail(3)]


def test_klines_end_time_and_limit_follow_binance(market: MarketState, datadir: Path) -> None:
    stored = _btc_1h(datadir)
    end = pd.Timestamp("2019-05-10 12:00", tz="UTC")
    end_ms = int(end.timestamp() * 1000)
    status, body = _get(market, f"/api/v3/klines?symbol=BTCUSD&interval=1h&endTime={end_ms}"
                                f"&limit=4")
    assert status == 200
    assert [k[0] for k in body] == [int(d.timestamp() * 1000) for d in
                                    stored[stored["date"] <= end]["date"].tail(4)]
    assert body[-1][6] == end_ms + HOUR_MS - 1  # close time
    start_ms = end_ms - 10 * HOUR_MS
    status, body = _get(market, f"/api/v3/klines?symbol=BTCUSD&interval=1h&startTime="
                                f"{start_ms}&endTime={end_ms}")
    assert status == 200 and body[0][0] == start_ms and body[-1][0] == end_ms
    status, body = _get(market, "/api/v3/klines?symbol=BTCUSD&interval=1h")
    assert len(body) == 500  # Binance's default limit
    status, body = _get(market, "/api/v3/klines?symbol=BTCUSD&interval=1h&limit=1001")
    assert status == 400 and body["code"] == -1130


def test_ticker_book_and_time_follow_the_last_candle(exchange: ccxt.binance,
                                                    datadir: Path) -> None:
    last = _btc_1h(datadir).iloc[-1]
    native_last = get_datahandler(datadir, "feather").ohlcv_load(
        "BTC/USD", "30m", CandleType.SPOT, fill_missing=False).iloc[-1]
    ticker = exchange.fetch_ticker("BTC/USD")
    assert ticker["last"] == pytest.approx(native_last["close"])
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert ticker["high"] >= last["high"]
    book = exchange.fetch_order_book("BTC/USD", limit=5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] == ticker["bid"]
    assert book["asks"][0][0] == ticker["ask"]
    assert abs(exchange.fetch_time() - pd.Timestamp.now(tz="UTC").timestamp() * 1000) < 60_000


def test_errors_are_binance_json_and_the_server_survives(exchange: ccxt.binance,
                                                        market: MarketState) -> None:
    with pytest.raises(ccxt.BadSymbol):
        exchange.fetch_ohlcv("DOGE/USD", "1h")
    status, body = _get(market, "/api/v3/klines?symbol=DOGEUSD&interval=1h")
    assert status == 400 and body == {"code": -1121, "msg": "Invalid symbol."}
    status, body = _get(market, "/api/v3/klines?symbol=BTCUSD&interval=4h")
    assert status == 400 and body["code"] == -1120
    status, body = _get(market, "/api/v3/klines?symbol=BTCUSD&interval=1h&limit=abc")
    assert status == 400 and body["code"] == -1100
    status, body = _get(market, "/api/v3/account")
    assert status == 404 and "does not serve /api/v3/account" in body["msg"]
    assert _get(market, "/api/v3/ping") == (200, {})


LISTS = ("ticker/24hr", "ticker/price", "ticker/bookTicker", "exchangeInfo")


def _symbols(market: MarketState, path: str, symbols: str, *extra: str) -> tuple[int, object]:
    query = "&".join((f"symbols={urllib.parse.quote(symbols)}", *extra))
    return _get(market, f"/api/v3/{path}?{query}")


def test_symbols_selects_the_pairs_as_binance_does(market: MarketState) -> None:
    """Before, `symbols` was ignored and every pair came back."""
    for path in LISTS:
        status, body = _symbols(market, path, '["ETHUSD","BTCUSD"]')
        listed = body["symbols"] if path == "exchangeInfo" else body
        assert status == 200 and [s["symbol"] for s in listed] == ["ETHUSD", "BTCUSD"], path
        # unencoded, as Binance's documentation writes it too
        status, body = _get(market, f'/api/v3/{path}?symbols=["XRPUSD"]')
        listed = body["symbols"] if path == "exchangeInfo" else body
        assert status == 200 and [s["symbol"] for s in listed] == ["XRPUSD"], path


@pytest.mark.parametrize(("symbols", "extra", "code"), [
    ('["BTCUSD","DOGEUSD"]', (), -1121),  # a symbol the market does not have
    ("BTCUSD", (), -1100),  # not a JSON array
    ('["BTCUSD", "ETHUSD"]', (), -1100),  # Binance allows no space
    ('["btcusd"]', (), -1100),
    ('["BTCUSD"]', ("symbol=BTCUSD",), -1128),  # symbol and symbols together
])
def test_bad_symbols_get_binance_errors(market: MarketState, symbols: str,
                                        extra: tuple[str, ...], code: int) -> None:
    for path in LISTS:
        status, body = _symbols(market, path, symbols, *extra)
        assert status == 400 and isinstance(body, dict) and body["code"] == code, (path, body)
    if code == -1121:
        assert body["msg"] == "Invalid symbol."


def test_negative_times_and_limits_are_refused(market: MarketState) -> None:
    """Before, startTime=-5 served the klines from the first candle."""
    for param in ("startTime=-5", "endTime=-1", "limit=-3", "startTime=1e12"):
        status, body = _get(market, f"/api/v3/klines?symbol=BTCUSD&interval=1h&{param}")
        name = param.split("=")[0]
        assert status == 400 and body == {
            "code": -1100, "msg": f"Illegal characters found in parameter '{name}'; legal range "
                                  "is '^[0-9]{1,20}$'."}, param
    status, body = _get(market, "/api/v3/depth?symbol=BTCUSD&limit=-5")
    assert status == 400 and body["code"] == -1100


def test_second_start_reuses_and_busy_port_is_a_clear_error(market: MarketState, datadir: Path,
                                                            market_dir: Path,
                                                            tmp_path: Path) -> None:
    state_file = market_dir / "market.json"
    again, started = start(datadir, market.host, market.port, state_file,
                           market_dir / "market.log")
    assert not started and again.pid == market.pid
    with pytest.raises(FreqaiSeqError, match=f"Port {market.port} on 127.0.0.1 is already in use"):
        start(datadir, market.host, market.port, tmp_path / "other.json", tmp_path / "other.log")
    assert running_state(state_file) == market
    assert not (tmp_path / "other.json").exists()


def test_cli_start_status_stop_and_stale_state(
        datadir: Path, tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    """`start` as a user runs it; `status` and `stop` start nothing and run in this process."""
    state = str(tmp_path / "m.json")
    common = ["--port", "0", "--state-file", state, "--market-log", str(tmp_path / "m.log")]
    started = run_cli("market", "start", *common)
    assert started.returncode == 0 and "Started offline market" in started.stdout
    recorded = read_state(Path(state))
    assert recorded is not None and recorded.port != 0
    assert cli_in_process("market", "status", "--state-file", state).returncode == 0
    # an action takes only its own options: a start option is refused, nothing is stopped
    refused = cli_in_process("market", "stop", *common)
    assert refused.returncode == 2 and "unrecognized arguments: --port" in refused.stderr
    assert read_state(Path(state)) == recorded
    stopped = cli_in_process("market", "stop", "--state-file", state)
    assert stopped.returncode == 0 and f"pid {recorded.pid}" in stopped.stdout
    assert not Path(state).exists()
    status = cli_in_process("market", "status", "--state-file", state)
    assert status.returncode == 1 and "not running" in status.stdout
    # A state file left by a killed market is recognised as stale and replaced.
    Path(state).write_text(json.dumps({"pid": 2**22 + 7, "host": "127.0.0.1", "port": 1,
                                       "datadir": str(datadir)}))
    again = run_cli("market", "start", *common)
    assert again.returncode == 0 and "Started" in again.stdout
    assert stop(Path(state)) is not None


def test_empty_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FreqaiSeqError, match="No feather candle files in"):
        CandleStore.from_datadir(tmp_path, HistoricalClock())
    result = run_cli("market", "serve", "--datadir", str(tmp_path), "--port", "0",
                     "--state-file", str(tmp_path / "s.json"))
    assert result.returncode == 2 and "run `freqai-seq data`" in result.stderr


def test_corrupt_candle_file_is_named(datadir: Path, tmp_path: Path) -> None:
    shutil.copy(datadir / "BTC_USD-1h.feather", tmp_path)
    (tmp_path / "ETH_USD-1h.feather").write_bytes(b"garbage, not feather")
    with pytest.raises(FreqaiSeqError, match=r"1h candle.* of ETH/USD in .* unreadable"):
        CandleStore.from_datadir(tmp_path, HistoricalClock())


def test_unknown_pair_requested_from_the_store_is_named(datadir: Path) -> None:
    with pytest.raises(FreqaiSeqError, match=r"No candle files for \['DOGE/USD'\]"):
        CandleStore.from_datadir(datadir, HistoricalClock(), pairs=["BTC/USD", "DOGE/USD"])


def test_committed_overlay_matches_the_generator() -> None:
    committed = json.loads((ROOT / "config.offline.json").read_text())
    assert committed == offline_overlay(port=DEFAULT_PORT)
    urls = committed["exchange"]["ccxt_config"]["urls"]["api"]
    assert all(u.startswith(f"http://127.0.0.1:{DEFAULT_PORT}/") for u in urls.values())
    assert committed["exchange"]["ccxt_async_config"] == committed["exchange"]["ccxt_config"]


# ---------------------------------------------------------------- replay (dry-run) market
def test_replay_clock_shifts_by_whole_weeks_to_now() -> None:
    start = int(pd.Timestamp("2019-08-15 06:00", tz="UTC").value // 1_000_000)
    clock = ReplayClock(start)
    offset = clock.offset_ms()
    assert offset % WEEK_MS == 0
    stored_now = clock.now_ms() - offset
    assert start <= stored_now < start + WEEK_MS
    served, stored = (pd.Timestamp(t, unit="ms") for t in (clock.now_ms(), stored_now))
    assert (served.hour, served.weekday()) == (stored.hour, stored.weekday())
    with pytest.raises(FreqaiSeqError, match="future"):
        ReplayClock(clock.now_ms() + HOUR_MS)


REPLAY_START_MS = int(pd.Timestamp("2019-08-15", tz="UTC").value // 10**6)


@pytest.fixture(scope="module")
def replay(datadir: Path, tmp_path_factory: pytest.TempPathFactory):
    state_file = tmp_path_factory.mktemp("replay") / "market.json"
    state, _ = start(datadir, "127.0.0.1", 0, state_file, state_file.with_name("market.log"),
                     replay_start_ms=REPLAY_START_MS)
    overlay = offline_overlay(state.host, state.port)["exchange"]["ccxt_config"]
    api = ccxt.binance(overlay)
    api.load_markets()
    yield state, api, state_file
    stop(state_file)


def test_replay_serves_closed_candles_up_to_now_then_a_flat_forming_one(
        replay, datadir: Path) -> None:
    state, api, _ = replay
    assert state.replay_start_ms == REPLAY_START_MS
    now = api.fetch_time()
    rows = api.fetch_ohlcv("BTC/USD", "1h", limit=5)
    forming, last_closed = rows[-1], rows[-2]
    assert forming[0] <= now < forming[0] + HOUR_MS  # Binance lists the open candle too
    assert last_closed[0] + HOUR_MS <= now
    assert forming[1:5] == [last_closed[4]] * 4 and forming[5] == 0  # nothing from the future
    # The served candle is the stored one a whole number of weeks earlier.
    offset = (now - REPLAY_START_MS) // WEEK_MS * WEEK_MS
    stored = _btc_1h(datadir).set_index("date")["close"]
    stored_date = pd.Timestamp(last_closed[0] - offset, unit="ms", tz="UTC")
    assert stored[stored_date] == pytest.approx(last_closed[4])
    assert REPLAY_START_MS <= last_closed[0] - offset < REPLAY_START_MS + WEEK_MS
    assert api.fetch_ohlcv("BTC/USD", "1h", since=forming[0] + HOUR_MS) == []  # not yet
    ticker = api.fetch_ticker("BTC/USD")
    # The latest released candle of the finest timeframe (30m) sets the price.
    last_30m = api.fetch_ohlcv("BTC/USD", "30m", limit=2)[-2]
    assert last_30m[0] + HOUR_MS // 2 <= now
    assert ticker["last"] == pytest.approx(last_30m[4])


def test_a_running_market_of_another_mode_is_not_reused(replay, datadir: Path) -> None:
    _, _, state_file = replay
    with pytest.raises(FreqaiSeqError, match="already runs"):
        start(datadir, "127.0.0.1", 0, state_file, state_file.with_name("market.log"))


def test_replay_start_option_is_parsed_and_checked(
        tmp_path: Path, cli_in_process: CommandRun) -> None:
    result = cli_in_process("market", "serve", "--replay-start", "not-a-date")
    assert result.returncode == 2 and "not a time" in result.stderr
    # a real `serve`: its own interpreter, so a broken check serves (and times out) elsewhere
    result = run_cli("market", "serve", "--replay-start", "2099-01-01", "--port", "0",
                     "--state-file", str(tmp_path / "m.json"))
    assert result.returncode == 2 and "replay start lies in the future" in result.stderr
