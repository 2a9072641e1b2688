"""Cross-pair training on the live path: `freqai-seq dryrun start --fast` with two pairs runs
real `freqtrade trade --dry-run`; the first pair due trains the shared network on both pairs'
newest candles, the other reuses it, both predict, and a restart loads the models without
retraining."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from freqai_seq.model.cross_pair.store import SharedNetworks
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.runs import dryrun
from tests.conftest import free_port
from tests.test_dryrun_live import CANDLE_WAIT_S, Bot

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dryrun_cross")]

PAIRS = ("BTC/USD", "ETH/USD")


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, datadir: Path) -> Iterator[Bot]:
    root = tmp_path_factory.mktemp("live-cross")
    params = root / "params.json"
    params.write_text(json.dumps({"window": 12, "hidden_size": 16, "epochs": 2,
                                  "cross_pair": True, "pair_embedding_dim": 2}))
    userdir = root / "user_data"
    bot = Bot(userdir, ("--fast", "--pairs", *PAIRS, "--training-params", str(params),
                        "-c", "config.json", "--userdir", str(userdir),
                        "--datadir", str(datadir), "--api-port", str(free_port())))
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def usable_predictions(bot: Bot, newer_than: str = "") -> dict[str, dryrun.Prediction]:
    """Each pair's first usable prediction for a candle newer than `newer_than`."""
    found: dict[str, dryrun.Prediction] = {}
    deadline = time.monotonic() + CANDLE_WAIT_S
    while time.monotonic() < deadline and len(found) < len(PAIRS):
        try:
            latest = dryrun.latest_predictions(bot.folder)
        except (dryrun.FreqaiSeqError, ValueError):
            latest = []  # the API is not up yet
        for p in latest:
            if p.date > newer_than and p.do_predict == 1:
                found.setdefault(p.pair, p)
        time.sleep(0.5)
    assert set(found) == set(PAIRS), (found, bot.recent_log()[-3000:])
    return found


def test_pairs_share_one_network_live_and_a_restart_does_not_retrain(bot: Bot) -> None:
    for pair in PAIRS:
        bot.wait_log(f"Done training {pair}", 300)
    log = bot.recent_log()
    assert log.count("cross-pair: training the shared network") == 1, log[-3000:]
    assert log.count("reuses the shared network") == 1
    first = usable_predictions(bot)
    models = bot.userdir / "models" / "dryrun-pytorchlstmregressor-fast"
    [(_, _, network)] = SharedNetworks(models).entries()
    drawer = json.loads((models / "pair_dictionary.json").read_text())
    for pair in PAIRS:
        info = drawer[pair]
        model = SequenceModel.load(Path(info["data_path"]) / f"{info['model_filename']}_model.zip")
        assert model.cross.pair == pair and model.cross.pairs == PAIRS
    bot.stop()
    bot.start()
    newest = max(p.date for p in first.values())
    usable_predictions(bot, newer_than=newest)
    recent = bot.recent_log()
    assert "Starting training" not in recent, "retrained although the models had not expired"
    assert [e[2] for e in SharedNetworks(models).entries()] == [network]
