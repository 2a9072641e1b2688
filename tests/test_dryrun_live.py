"""The live path end to end with real processes: `freqai-seq dryrun start --fast` runs
`freqtrade trade --dry-run` with FreqAI against the replay market, whose 30m candles are
relabelled as 1m candles so a new one arrives every minute.

The tests share one bot and run in file order, and each candle waited for is used for several
checks (three candles in all): the first prediction and trades opened and closed through the API;
a restart that keeps trades and model; a market outage, after which the restarted bot predicts the
next candle; backtest/live parity of the interval columns on those two consecutive candles; a
corrupt model and a kill -9 during its retraining.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from freqai_seq.market import process as market
from freqai_seq.runs import dryrun
from tests.conftest import free_port, run_cli

# one bot for the module: its tests run in one xdist group, in file order
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dryrun_live")]

PAIR = "BTC/USD"
# The interval strategy's model and columns, its entries left to the API (the tests open
# trades themselves, and a signal entry would hold the pair's only slot). Each candle it also
# writes the frame FreqAI predicted from (features and the predictions attached to it), which
# FreqAI drops before the strategy and its API see the dataframe.
STRATEGY = "ApiOnlyIntervalStrategy"
STRATEGY_SOURCE = f"""
import os
from pathlib import Path

from freqai_seq.strategy.interval_strategy import IntervalStrategyBase

FRAMES = Path(__file__).parent / "predicted-frames"


def dump(frame):
    frame = frame.reset_index(drop=True)
    FRAMES.mkdir(exist_ok=True)
    path = FRAMES / (frame["date"].iloc[-1].strftime("%Y%m%d%H%M%S") + ".feather")
    frame.to_feather(path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)


class {STRATEGY}(IntervalStrategyBase):
    def populate_indicators(self, df, metadata):
        freqai = self.freqai
        if not getattr(freqai, "dumps_frames", False):  # FreqAI's clean_up drops its kitchen
            clean_up = freqai.clean_up

            def dump_then_clean_up():
                if freqai.dk is not None and freqai.dk.return_dataframe is not None:
                    dump(freqai.dk.return_dataframe)
                clean_up()

            freqai.clean_up, freqai.dumps_frames = dump_then_clean_up, True
        return super().populate_indicators(df, metadata)

    def populate_entry_trend(self, df, metadata):
        df = super().populate_entry_trend(df, metadata)
        df["enter_long"] = 0
        return df
"""
IDENTIFIER = "dryrun-pytorchlstmregressor-fast"
CANDLE_WAIT_S = 150  # a 1m candle, plus FreqAI's processing, on a busy 2-core machine


@dataclass
class Bot:
    userdir: Path
    start_args: tuple[str, ...]
    log_offset: int = 0
    seen: dict = field(default_factory=dict)  # what one test leaves for the next (file order)

    @property
    def folder(self) -> Path:
        return self.userdir / "dryrun"

    @property
    def log(self) -> Path:
        return self.folder / "bot.log"

    def start(self) -> None:
        self.log_offset = self.log_size()
        started = run_cli("dryrun", "start", *self.start_args)
        assert started.returncode == 0, started.stderr[-3000:]

    def stop(self) -> None:
        stopped = run_cli("dryrun", "stop", "--userdir", str(self.userdir))
        assert stopped.returncode == 0, stopped.stderr[-2000:]

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def recent_log(self, since: int | None = None) -> str:
        """What the bot logged since its last start (or since the log offset `since`)."""
        with self.log.open("rb") as fh:
            fh.seek(self.log_offset if since is None else since)
            return fh.read().decode(errors="replace")

    def wait_log(self, text: str, timeout_s: float, since: int | None = None) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in (recent := self.recent_log(since)):
                return recent
            assert dryrun.bot_state(self.folder) is not None, "bot died:\n" + recent[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not logged within {timeout_s}s:\n"
                             + self.recent_log(since)[-3000:])

    def wait_prediction(self, newer_than: str = "", *, at_or_after: str = ""
                        ) -> dryrun.Prediction:
        """The first usable prediction (do_predict 1) for a candle newer than `newer_than` (or
        at or after `at_or_after`), read through the REST API of the bot running now."""
        deadline = time.monotonic() + CANDLE_WAIT_S
        while time.monotonic() < deadline:
            try:
                [latest] = dryrun.latest_predictions(self.folder)
            except (dryrun.FreqaiSeqError, ValueError):
                latest = None  # the API is not up yet
            if latest and latest.date > newer_than and latest.date >= at_or_after \
                    and latest.do_predict == 1:
                return latest
            time.sleep(0.5)
        raise AssertionError(f"no prediction after {newer_than or at_or_after} within "
                             f"{CANDLE_WAIT_S}s:\n" + self.recent_log()[-3000:])

    def pair_info(self) -> dict:
        drawer = self.userdir / "models" / IDENTIFIER / "pair_dictionary.json"
        return json.loads(drawer.read_text())[PAIR]

    def api(self, path: str, payload: dict | None = None):
        return dryrun.api_call(self.folder, path, payload)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, datadir: Path) -> Iterator[Bot]:
    root = tmp_path_factory.mktemp("live")
    params = root / "params.json"
    # 12 epochs: a training lasts several seconds, so the kill -9 test can land inside one on a
    # loaded machine (with 2 epochs, 1.6 s, it came too late in every try beside a busy process)
    params.write_text(json.dumps({"window": 12, "hidden_size": 16, "epochs": 12}))
    # Trades opened and closed through the API, as a user can, and left alone by the strategy.
    extra = root / "force.json"
    strategies = root / "strategies"
    strategies.mkdir()
    (strategies / f"{STRATEGY}.py").write_text(STRATEGY_SOURCE)
    extra.write_text(json.dumps({"force_entry_enable": True, "use_exit_signal": False,
                                 "minimal_roi": {"0": 10.0}, "stoploss": -0.99,
                                 "strategy_path": str(strategies)}))
    userdir = root / "user_data"
    bot = Bot(userdir, ("--fast", "--pairs", PAIR, "--strategy", STRATEGY,
                        "--training-params", str(params),
                        "-c", "config.json", "-c", str(extra), "--userdir", str(userdir),
                        "--datadir", str(datadir), "--api-port", str(free_port())))
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def _last_close(bot: Bot) -> float:
    timeframe = bot.api("/api/v1/show_config")["timeframe"]
    candles = bot.api(f"/api/v1/pair_candles?pair={PAIR}&timeframe={timeframe}&limit=1")
    return float(dict(zip(candles["columns"], candles["data"][-1], strict=True))["close"])


def _force_trade(bot: Bot, side_price: float) -> int:
    """A limit entry priced through the book, so the dry-run fills it at once."""
    trade = bot.api("/api/v1/forceenter", {"pair": PAIR, "price": side_price})
    return int(trade["trade_id"])


def _predicted_frame(bot: Bot, date: str) -> pd.DataFrame:
    """The frame the bot predicted the candle `date` from (written by the strategy)."""
    stamp = pd.Timestamp(date).strftime("%Y%m%d%H%M%S")
    path = bot.userdir.parent / "strategies" / "predicted-frames" / f"{stamp}.feather"
    assert path.exists(), sorted(p.name for p in path.parent.glob("*"))
    return pd.read_feather(path)


def _batch_prediction(bot: Bot, frame: pd.DataFrame) -> pd.DataFrame:
    """The bot's saved model predicting all rows of `frame` in one call, as a backtest does."""
    from freqtrade.configuration import Configuration
    from freqtrade.enums import RunMode
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
    from freqtrade.resolvers.freqaimodel_resolver import FreqaiModelResolver

    config = Configuration({"config": ["config.json", str(bot.folder / "run.json")],
                            "user_data_dir": str(bot.userdir),
                            "freqaimodel": "PyTorchLSTMRegressor",
                            "strategy": STRATEGY}, RunMode.DRY_RUN).get_config()
    freqai = FreqaiModelResolver.load_freqaimodel(config)
    freqai.live = True
    dk = FreqaiDataKitchen(config, live=True, pair=PAIR)
    freqai.model = freqai.dd.load_data(PAIR, dk)
    pred, do_predict = freqai.predict(frame, dk, first=True)
    return pred.assign(do_predict=do_predict)


def _check_parity(bot: Bot, prediction: dryrun.Prediction) -> None:
    """Backtest/live parity of the calibrated interval and volatility columns: the candle as the
    bot predicted it live against the same model predicting the bot's whole dataframe at once."""
    frame = _predicted_frame(bot, prediction.date)
    batch = _batch_prediction(bot, frame)
    columns = ["&-q05_ret_12", "&-q10_ret_12", "&-q90_ret_12", "&-q95_ret_12",
               "&-vol_12", "&-ret_12"]
    assert batch["do_predict"].iloc[-1] == frame["do_predict"].iloc[-1] == 1
    for column in columns:
        # float32 rounding of the same window in a batch of another size
        assert batch[column].iloc[-1] == pytest.approx(frame[column].iloc[-1], abs=1e-6)


def test_predicts_the_first_candle_and_trades_through_the_api(bot: Bot) -> None:
    """The first usable prediction after the first training (FreqAI marks the candle it first
    predicts with a new model do_predict 0, so this is the next one, predicted from one window),
    then a trade opened and closed and one left open, through the API."""
    bot.wait_log(f"Done training {PAIR}", 240)
    first = bot.wait_prediction()
    assert all(v is not None for v in first.values.values()), first
    _check_parity(bot, first)
    assert bot.recent_log().count("Starting training") == 1  # the model the check loaded

    closed = _force_trade(bot, _last_close(bot) * 1.01)
    deadline = time.monotonic() + 60
    while not bot.api("/api/v1/status")[0]["is_open"] or bot.api(
            "/api/v1/status")[0]["has_open_orders"]:
        assert time.monotonic() < deadline, bot.api("/api/v1/status")
        time.sleep(0.5)
    bot.api("/api/v1/forceexit", {"tradeid": str(closed), "price": _last_close(bot) * 0.99})
    deadline = time.monotonic() + 60
    while bot.api("/api/v1/status"):
        assert time.monotonic() < deadline, bot.api("/api/v1/status")
        time.sleep(0.5)
    still_open = _force_trade(bot, _last_close(bot) * 1.01)
    bot.seen.update(first=first, closed=closed, still_open=still_open)


def test_a_restart_keeps_trades_and_model(bot: Bot) -> None:
    """SIGTERM and a new start: the model loaded from disk without retraining, the closed trade
    in the history and the open one still open. At once, the restarted bot serves the
    predictions made before the stop (FreqAI's stored ones, shown only once a model is loaded;
    without one every row has do_predict 0); the next test has it predict a new candle."""
    first = bot.seen["first"]
    model_before = bot.pair_info()
    bot.stop()  # SIGTERM
    assert dryrun.bot_state(bot.folder) is None
    bot.start()
    restarted = bot.wait_prediction(at_or_after=first.date)
    assert "Starting training" not in bot.recent_log(), \
        "retrained although the model had not expired"
    assert bot.pair_info() == model_before  # the saved model was loaded from disk
    history = {t["trade_id"]: t for t in bot.api("/api/v1/trades")["trades"]}  # closed ones
    closed = bot.seen["closed"]
    assert history[closed]["close_date"] and history[closed]["profit_abs"] is not None
    assert [t["trade_id"] for t in bot.api("/api/v1/status")] == [bot.seen["still_open"]]
    bot.seen.update(restarted=restarted, restart_log=bot.log_offset)


def test_a_market_outage_is_logged_and_the_restarted_bot_predicts_the_next_candle(
        bot: Bot) -> None:
    before = bot.seen["restarted"]
    state = market.read_state(bot.folder / "market.json")
    assert state is not None
    logged = bot.log_size()
    market.stop(bot.folder / "market.json")
    outage = bot.wait_log("Could not fetch historical candle", CANDLE_WAIT_S, since=logged)
    assert dryrun.bot_state(bot.folder) is not None, outage[-3000:]
    market.start(Path(state.datadir), state.host, state.port, bot.folder / "market.json",
                 bot.folder / "market.log", replay_start_ms=state.replay_start_ms,
                 replay_since_ms=state.replay_since_ms)
    after = bot.wait_prediction(newer_than=before.date)
    assert after.date > before.date >= bot.seen["first"].date  # predictions go on after a restart
    assert after.values != before.values or after.date != before.date
    bot.seen["next"] = after


def test_live_interval_columns_equal_a_batch_prediction_of_the_same_model(bot: Bot) -> None:
    """Backtest/live parity on two live candles, each predicted from one window: the first
    usable one (checked by the first test) and the next one the restarted bot predicted; one
    model served every candle."""
    _check_parity(bot, bot.seen["next"])
    assert "Starting training" not in bot.recent_log(bot.seen["restart_log"])


KILL_TRIES = 4  # a busy machine may still see a training end before the kill


def test_a_corrupt_model_is_retrained_even_after_kill_9_during_training(bot: Bot) -> None:
    bot.stop()
    for _ in range(KILL_TRIES):
        info = bot.pair_info()  # the model saved last (a try whose kill came late saved one)
        Path(info["data_path"], f"{info['model_filename']}_model.zip").write_bytes(
            b"not a model")
        bot.start()
        recent = bot.wait_log(f"Starting training {PAIR}", 120)
        assert f"Cannot load the model of {PAIR}" in recent
        os.kill(dryrun.bot_state(bot.folder).pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while dryrun.bot_state(bot.folder) is not None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        if "Done training" not in bot.recent_log():
            break  # the kill came during the training
    else:
        pytest.fail(f"the training ended before the kill in all {KILL_TRIES} tries")

    bot.start()  # the market still runs; the bot finds the same corrupt model
    bot.wait_log(f"Done training {PAIR}", 240)
    prediction = bot.wait_prediction()
    recent = bot.recent_log()
    assert f"Cannot load the model of {PAIR}" in recent
    assert "Traceback" not in recent, recent[-3000:]
    assert bot.pair_info()["model_filename"] != info["model_filename"]
    assert prediction.do_predict == 1
