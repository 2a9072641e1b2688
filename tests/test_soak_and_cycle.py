"""`freqai-seq soak`: sampling, slopes with block-bootstrap CIs, and the report of a (killed)
soak's samples; `freqai-seq live-cycle`: the cycle read from a bot's log. Both commands run
bots for minutes to hours: commands, not tests (docs/results/soak.md, results/scale-out.md)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import psutil
import pytest

from freqai_seq.cli import main
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation import soak

SETTINGS = soak.settings_record(soak.SoakSettings(warmup_minutes=5, sample_s=30))


def synthetic(slope_per_100: float, n: int = 240, seed: int = 1) -> list[soak.Sample]:
    """Samples every 30 s, five retrainings a minute, RSS drifting by `slope_per_100` per 100
    retrainings plus autocorrelated noise (a unit-test fixture, not a measurement)."""
    rng = np.random.default_rng(seed)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.5)
    samples = []
    for i in range(n):
        retrainings = int(i * 2.5)
        samples.append(soak.Sample(i * 30.0, retrainings, 0,
                                   800 + slope_per_100 * retrainings / 100 + noise[i], 23, 16,
                                   5.6, 10, 0.31))
    return samples


def test_the_slope_and_its_interval_recover_a_drift_and_a_flat_line() -> None:
    drifting = soak.analyse(synthetic(3.0), SETTINGS)["trends"]["rss_mb"]
    assert drifting["ci_low"] < 3.0 < drifting["ci_high"]
    assert drifting["ci_low"] > 0
    flat = soak.analyse(synthetic(0.0), SETTINGS)
    rss = flat["trends"]["rss_mb"]
    assert rss["ci_low"] <= 0 <= rss["ci_high"] and rss["ci_high"] < soak.RSS_GOAL_MB
    assert flat["rss_goal_met"] is True
    assert soak.analyse(synthetic(8.0), SETTINGS)["rss_goal_met"] is False
    # the warm-up (5 minutes = the first 10 samples) is left out
    assert flat["samples_after_warmup"] == 230
    assert flat["trends"]["open_files"]["slope"] == 0


def test_too_few_samples_after_the_warm_up_is_an_error() -> None:
    with pytest.raises(FreqaiSeqError, match="Too little to measure after the 5-minute warm-up"):
        soak.analyse(synthetic(0.0, n=12), SETTINGS)


def test_finished_trainings_are_counted_from_the_log_as_it_grows(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("old line: Done training BTC/USD (1.00 secs)\n")
    counter = soak.LogCounter(log)  # what was logged before the soak is not counted
    with log.open("a") as fh:
        fh.write("- Done training ETH/USD (2.50 secs) -\n")
        fh.write("Training LTC/USD raised exception ValueError\n")
        fh.write("- Done training XRP/USD (1.")  # being written
    counter.update()
    assert (counter.done, counter.failed) == (1, 1)
    with log.open("a") as fh:
        fh.write("20 secs) -\n")
    counter.update()
    assert (counter.done, counter.failed) == (2, 1)


def test_a_sample_reads_the_process_and_the_stores(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "sub-train-BTC_1").mkdir(parents=True)
    (models / "sub-train-BTC_1" / "model.zip").write_bytes(b"x" * 2**20)
    (models / "historic_predictions.pkl").write_bytes(b"y" * 2**19)
    log = tmp_path / "bot.log"
    log.write_text("")
    sample = soak.take_sample(psutil.Process(os.getpid()), models, soak.LogCounter(log), 0.0)
    assert sample.model_folders == 1
    assert sample.models_mb == pytest.approx(1.5, abs=1e-3)
    assert sample.historic_mb == pytest.approx(0.5, abs=1e-4)
    assert sample.rss_mb > 10 and sample.open_files > 0 and sample.threads >= 1


def test_the_command_reports_a_killed_soaks_samples(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / soak.SETTINGS_FILE).write_text(json.dumps(SETTINGS))
    lines = [json.dumps(asdict(s)) for s in synthetic(0.0)]
    (tmp_path / soak.SAMPLES_FILE).write_text("\n".join(lines) + '\n{"seconds": 72')  # cut
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- soak -->\nold\n<!-- /soak -->\nafter\n")
    assert main(["soak", "--from-samples", str(tmp_path), "--page", str(page)]) == 0
    out = capsys.readouterr().out
    assert "RSS goal (CI includes 0, upper end under 5 MB per 100 retrainings): met" in out
    assert "| RSS (MB) |" in out
    text = page.read_text()
    assert "\nold\n" not in text and "| RSS (MB) |" in text and text.endswith("after\n")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["samples"] == 240
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / soak.SETTINGS_FILE).write_text(json.dumps(SETTINGS))
    (broken / soak.SAMPLES_FILE).write_text("not json\n" + "\n".join(lines))
    assert main(["soak", "--from-samples", str(broken)]) == 2


def test_the_live_cycle_is_the_time_between_a_pairs_new_models() -> None:
    from freqai_seq.evaluation import live_cycle

    log = "\n".join([
        "2026-12-07 01:00:00,000 - freqai_seq.model.regressor - INFO - ---- Done training "
        "BTC/USD (9.00 secs) ----",  # warm-up
        "2026-12-07 01:01:00,000 - x - INFO - ---- Done training BTC/USD (2.00 secs) ----",
        "2026-12-07 01:01:05,500 - x - INFO - ---- Done training ETH/USD (3.00 secs) ----",
        "2026-12-07 01:01:10,000 - x - INFO - ---- Done training BTC/USD (2.50 secs) ----",
        "2026-12-07 01:01:25,500 - x - INFO - ---- Done training ETH/USD (4.00 secs) ----",
        "2026-12-07 01:01:30,000 - x - INFO - ---- Done training BTC/USD (2.00 secs) ----"])
    done = live_cycle.completions(log)
    assert [(pair, secs) for _, pair, secs in done][:2] == [("BTC/USD", 9.0), ("BTC/USD", 2.0)]
    figures = live_cycle.cycle_figures(done, since=done[1][0])
    # BTC: 10 s and 20 s between new models, ETH: 20 s
    assert figures == {"retrainings": 5, "pairs": 2, "training_s": 2.5, "cycle_s": 20.0,
                       "cycle_max_s": 20.0}
    with pytest.raises(FreqaiSeqError, match="No pair was retrained twice"):
        live_cycle.cycle_figures(done, since=done[-1][0])
