"""`freqai-seq validate`: metrics on hand-computed cases, the analysis formulas on known
attention patterns, and the command on the real exports of the integration backtests."""

from __future__ import annotations

import json
import math
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from freqai_seq.evaluation.validation import probe_metrics as pm
from freqai_seq.evaluation.validation.forecast_metrics import (
    block_length,
    date_block_counts,
    point_scores,
    resampled_scores,
    score_with_ci,
)
from freqai_seq.evaluation.validation.horizons import plan_horizons, smoothness
from freqai_seq.evaluation.validation.truth import past_return, rolling_drift
from tests.backtest_runs import hybrid_run, lstm_run
from tests.conftest import BacktestRun, CommandRun, run_cli


def test_point_scores_by_hand() -> None:
    pred = np.array([0.02, -0.01, 0.03, 0.0])
    truth = np.array([0.01, -0.02, -0.01, 0.02])
    s = point_scores(pred, truth)
    assert s["mse"] == pytest.approx((0.01**2 + 0.01**2 + 0.04**2 + 0.02**2) / 4)
    assert s["mae"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.02) / 4)
    assert s["rmse"] == pytest.approx(math.sqrt(s["mse"]))
    assert s["direction_accuracy"] == pytest.approx(2 / 3)  # the 0 forecast has no direction
    # ranks: pred [3, 1, 4, 2], truth [3, 1, 2, 4]; centred dot product 1 over 5
    assert s["spearman_ic"] == pytest.approx(0.2)
    zero = point_scores(np.zeros(4), truth)
    assert math.isnan(zero["direction_accuracy"]) and math.isnan(zero["spearman_ic"])
    assert math.isnan(zero["pearson"])


def test_r2_explained_variance_and_pearson_agree_with_sklearn_and_scipy() -> None:
    from scipy.stats import pearsonr
    from sklearn.metrics import explained_variance_score, r2_score

    rng = np.random.default_rng(7)
    truth = rng.normal(0, 0.01, 200)
    pred = 0.5 * truth + rng.normal(0, 0.005, 200)
    s = point_scores(pred, truth)
    assert s["r2"] == pytest.approx(r2_score(truth, pred))
    assert s["explained_variance"] == pytest.approx(explained_variance_score(truth, pred))
    assert s["pearson"] == pytest.approx(pearsonr(pred, truth).statistic)
    # a constant bias costs R2 but not explained variance or correlation
    biased = point_scores(truth + 0.01, truth)
    assert biased["explained_variance"] == pytest.approx(1.0)
    assert biased["pearson"] == pytest.approx(1.0)
    assert biased["r2"] == pytest.approx(1 - 0.01**2 / np.var(truth))


def _random_walk_returns(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.01, n)


def test_perfect_forecast_scores_one_and_shuffled_forecast_scores_zero() -> None:
    truth = _random_walk_returns(3000)
    shuffled = np.random.default_rng(1).permutation(truth)
    dates = np.tile(np.arange(1500), 2)  # two pairs over the same 1500 candles
    scores = score_with_ci({"perfect": truth, "shuffled": shuffled}, truth, dates,
                           horizon=5, resamples=300, seed=0)
    perfect = scores["perfect"]
    assert perfect.value["spearman_ic"] == pytest.approx(1.0)
    assert perfect.value["direction_accuracy"] == 1.0 and perfect.value["mse"] == 0.0
    assert perfect.ci_low["spearman_ic"] == pytest.approx(1.0)
    s = scores["shuffled"]
    assert abs(s.value["spearman_ic"]) < 0.05
    assert s.ci_low["spearman_ic"] < 0 < s.ci_high["spearman_ic"]
    assert s.ci_low["direction_accuracy"] < 0.5 < s.ci_high["direction_accuracy"]


def test_bootstrap_draws_blocks_of_dates_shared_by_all_pairs() -> None:
    codes = np.concatenate([np.arange(100), np.arange(40, 100)])  # pair B lacks 40 dates
    counts = date_block_counts(codes, horizon=12, resamples=50, rng=np.random.default_rng(0))
    assert counts.shape == (50, 160)
    per_date = counts[:, :100]
    assert (per_date.sum(axis=1) == 100).all()  # as many dates as the data has
    np.testing.assert_array_equal(counts[:, 100:], per_date[:, 40:])  # same date, same count


def test_bootstrap_blocks_are_at_least_one_retrain_window_long() -> None:
    """Predictions of one walk-forward window come from one model: a block never splits it."""
    codes = np.arange(1000)
    assert block_length(1000, 12) == 12 and block_length(1000, 12, min_block=168) == 168
    counts = date_block_counts(codes, horizon=12, resamples=20, rng=np.random.default_rng(1),
                               min_block=168)
    assert (counts.sum(axis=1) == 1000).all()
    # every drawn date is followed by the next 167 dates of its block, unless a block ends at
    # the series' end or the resample's length cut it: runs of drawn dates are mostly >= 168
    runs = [np.diff(np.flatnonzero(np.diff(np.r_[0, (c > 0).astype(int), 0]))) [::2]
            for c in counts]
    assert np.median(np.concatenate(runs)) >= 168


def test_pair_aware_ics_on_hand_computed_values() -> None:
    """Mean per-pair IC = the mean of each pair's own Spearman IC; cross-sectional IC = the mean
    over dates (with at least 3 pairs) of the Spearman correlation across pairs."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    n_dates, n_pairs = 60, 4
    dates = np.repeat(np.arange(n_dates), n_pairs)
    groups = np.tile(np.arange(n_pairs), n_dates)
    keep = ~((dates < 10) & (groups >= 2))  # 10 dates with only 2 pairs: no cross-section
    dates, groups = dates[keep], groups[keep]
    truth = rng.normal(size=len(dates))
    pred = 0.5 * truth + rng.normal(size=len(dates))
    (scored,) = score_with_ci({"m": pred}, truth, dates, horizon=1, resamples=20, seed=0,
                              groups=groups).values()
    per_pair = [spearmanr(pred[groups == g], truth[groups == g])[0] for g in range(n_pairs)]
    per_date = [spearmanr(pred[dates == d], truth[dates == d])[0] for d in range(10, n_dates)]
    assert scored.value["mean_pair_ic"] == pytest.approx(np.mean(per_pair))
    assert scored.value["cross_sectional_ic"] == pytest.approx(np.mean(per_date))
    assert scored.ci_low["mean_pair_ic"] < scored.value["mean_pair_ic"]
    # without the pair of each row, all rows are one group; the cross-section needs dates only
    (alone,) = score_with_ci({"m": pred}, truth, dates, horizon=1, resamples=20,
                             seed=0).values()
    assert alone.value["mean_pair_ic"] == pytest.approx(alone.value["spearman_ic"])
    assert alone.value["cross_sectional_ic"] == pytest.approx(np.mean(per_date))


def test_resampled_scores_equal_the_scores_of_the_expanded_sample() -> None:
    rng = np.random.default_rng(3)
    pred, truth = rng.normal(size=30), rng.normal(size=30)
    counts = rng.integers(0, 3, size=(4, 30)).astype(float)
    scores = resampled_scores(pred, truth, counts)
    for b in range(4):
        rows = np.repeat(np.arange(30), counts[b].astype(int))
        expected = point_scores(pred[rows], truth[rows])
        for metric, value in expected.items():
            assert scores[metric][b] == pytest.approx(value), metric


def test_too_few_dates_for_two_blocks_give_no_interval() -> None:
    truth = _random_walk_returns(40)
    (scored,) = score_with_ci({"m": truth * 0.5}, truth, np.arange(40), horizon=30,
                              resamples=50, seed=0).values()
    assert scored.value["spearman_ic"] == pytest.approx(1.0)
    assert math.isnan(scored.ci_low["rmse"]) and math.isnan(scored.ci_high["rmse"])


def test_baselines_use_only_the_past_and_respect_gaps() -> None:
    dates = pd.to_datetime(["2019-01-01 00:00", "2019-01-01 01:00", "2019-01-01 02:00",
                            "2019-01-01 04:00"], utc=True)
    candles = pd.DataFrame({"date": dates, "close": [100.0, 110.0, 121.0, 133.1]})
    persistence = past_return(candles, 1, "1h")
    assert np.isnan(persistence.iloc[0]) and persistence.iloc[1] == pytest.approx(0.1)
    assert np.isnan(persistence.iloc[3])  # 03:00 is missing
    drift = rolling_drift(candles, 2, "1h", lookback=2)
    assert drift.iloc[2] == pytest.approx(2 * 0.1)  # mean of the two known 10 % returns


def test_horizon_plan_names_the_source_and_never_borrows_a_horizon() -> None:
    single = {p.horizon: p for p in plan_horizons((1, 5), ["&-ret_12", "&-ret_12_mean"])}
    assert single[12].label == "&-ret_12" and "single trained horizon" in single[12].source
    assert single[1].label is None and "predicts horizons [12] only" in single[1].source
    multi = {p.horizon: p for p in plan_horizons((4,), ["&-ret_4", "&-ret_12", "&-vol_12"])}
    assert "multi-horizon" in multi[4].source and multi[12].label == "&-ret_12"


def test_uniform_attention_has_entropy_log_window() -> None:
    window = 24
    uniform = np.full((5, 2, window, window), 1 / window)
    entropy, normalised = pm.attention_entropy(uniform)
    assert entropy == pytest.approx(math.log(window))
    assert normalised == pytest.approx(1.0)
    one_hot = np.zeros((5, 2, window, window))
    one_hot[..., -1] = 1.0  # every step looks at the newest one
    assert pm.attention_entropy(one_hot)[0] == pytest.approx(0.0, abs=1e-9)
    focus = pm.temporal_focus(pm.newest_step_attention(one_hot))
    assert focus["mean_lag"] == 0.0 and focus["recent_quarter_share"] == 1.0


def test_attention_on_a_fixed_candle_is_consistent_as_the_window_slides() -> None:
    window, n = 10, 6
    by_lag = np.zeros((n, 1, window))
    for i in range(n):
        by_lag[i, 0, i + 2] = 1.0  # the same candle, one lag further back each step
    consecutive = np.ones(n - 1, dtype=bool)
    assert pm.attention_consistency(by_lag, consecutive) == pytest.approx(1.0)
    jumping = np.zeros((n, 1, window))
    jumping[:, 0, 2] = 1.0  # always lag 2: a different candle each step
    assert pm.attention_consistency(jumping, consecutive) == pytest.approx(0.0, abs=1e-6)


def test_representation_smoothness_and_dependency_formulas() -> None:
    reps = np.tile([[1.0, 2.0, 3.0]], (4, 1))
    assert pm.representation_stability(reps, np.ones(3, bool)) == pytest.approx(1.0)
    assert smoothness(np.cumsum(_random_walk_returns(2000))) > 0.95
    assert smoothness(np.tile([1.0, -1.0], 500)) == pytest.approx(-1.0, abs=0.01)
    profile = pm.dependency_by_lag(np.tile(np.arange(24, 0, -1, dtype=float), (3, 1)))
    assert profile.sum() == pytest.approx(1.0)
    share = pm.dependency_beyond(profile, (10, 20, 50))
    assert share["10"] == pytest.approx(sum(range(1, 15)) / sum(range(1, 25)))
    assert share["50"] is None  # outside a 24-candle window



# ---------------------------------------------------------------- the command on real exports

def _report(out: Path) -> dict:
    return json.loads((out / "validation.json").read_text())


@pytest.mark.integration
def test_backtest_with_validate_writes_the_full_report(
        backtest: Callable[..., BacktestRun]) -> None:
    run = lstm_run(backtest)
    assert run.result.returncode == 0, run.result.stdout[-3000:] + run.result.stderr[-3000:]
    out = run.userdir / "validation" / run.identifier
    assert f"Report: {out / 'validation.html'}" in run.result.stdout
    report = _report(out)
    assert report["schema"] == "freqai-seq/validation" and report["schema_version"] == 1
    assert report["problems"] == []
    horizons = {h["horizon"]: h for h in report["forecasts"]["backtest"]["horizons"]}
    assert set(horizons) == {1, 5, 10, 12, 20, 50}
    assert not horizons[1]["scored"] and "predicts horizons [12] only" in horizons[1]["source"]
    scored = horizons[12]
    assert scored["scored"] and "single trained horizon" in scored["source"]
    pooled = scored["pooled"]
    assert pooled["rows"] > 400 and set(scored["per_pair"]) == {"BTC/USD", "ETH/USD"}
    assert pooled["block_length"] == 7 * 24  # one retrain window (backtest_period_days 7, 1h)
    for name in ("model", "zero", "persistence", "rolling_mean"):
        rmse = pooled[name]["rmse"]
        assert rmse["ci_low"] <= rmse["value"] <= rmse["ci_high"]
    analysis = report["model_analysis"]["pooled"]
    assert analysis["models"] == 4 and analysis["networks"] == ["lstm"]
    assert analysis["rerun_max_deviation_in_label_std"] < 1e-3  # re-run == export
    assert report["attention"]["applicable"] is False  # an LSTM has no attention
    dependency = report["long_term_dependency"]["share_beyond_lag"]
    assert 0 < dependency["10"] < 1 and dependency["20"] is None  # window 12
    assert 0 <= report["temporal_consistency"]["overall"] <= 1
    csv = pd.read_csv(out / "returns" / "BTC_USD.csv")
    assert {"date", "prediction_12", "realized_12", "position", "strategy_return"} <= set(
        csv.columns)
    assert len(csv) == 2 * 7 * 24
    page = (out / "validation.html").read_text()
    assert "plotly" in page and "RMSE by horizon" in page


@pytest.mark.integration
def test_hybrid_export_gets_attention_and_multi_horizon_scores(
        backtest: Callable[..., BacktestRun], tmp_path: Path) -> None:
    run = hybrid_run(backtest)
    assert run.result.returncode == 0
    result = run_cli("validate", "--models", str(run.models), "--bootstrap", "200",
                     "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = _report(tmp_path)
    horizons = {h["horizon"]: h for h in report["forecasts"]["backtest"]["horizons"]}
    assert horizons[4]["scored"] and "multi-horizon model, head &-ret_4" in horizons[4]["source"]
    attention = report["attention"]
    assert 0 < attention["entropy_normalised"] <= 1
    assert attention["max_entropy_log_window"] == pytest.approx(math.log(12))
    assert np.array(attention["mean_matrix"]).sum(axis=1) == pytest.approx(1.0)
    assert 0 <= attention["mean_lag"] <= 11 and -1 <= attention["consistency"] <= 1
    assert "Attention: entropy" in result.stdout


@pytest.mark.integration
def test_bad_inputs_are_named_and_the_parts_that_can_run_do(
        backtest: Callable[..., BacktestRun], tmp_path: Path,
        cli_in_process: CommandRun) -> None:
    # the refusals in this process; the runs below in their own, as a user starts them
    missing = cli_in_process("validate", "--models", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "is not a FreqAI model folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = cli_in_process("validate", "--models", str(tmp_path / "empty"), "--pairs", "BTC/USD")
    assert empty.returncode == 2 and "No predictions in" in empty.stderr

    run = lstm_run(backtest)
    no_models = tmp_path / "models" / run.identifier
    shutil.copytree(run.models, no_models)
    for model in no_models.glob("sub-train-*/*_model.zip"):
        model.unlink()
    config = run.userdir / "runs" / f"{run.identifier}.json"
    result = run_cli("validate", "--models", str(no_models), "--config", str(config),
                     "--bootstrap", "100", "--out", str(tmp_path / "out"))
    assert result.returncode == 1  # incomplete, and it says so
    assert "4 model(s) not analysed: no saved model" in result.stdout
    report = _report(tmp_path / "out")
    assert any(h["scored"] for h in report["forecasts"]["backtest"]["horizons"])

    # Different candles under the same dates: forecasts are still scored, but re-running the
    # models on features from this data cannot reproduce the export.
    datadir = tmp_path / "data"
    shutil.copytree(Path(run.result.args[run.result.args.index("--datadir") + 1]), datadir)
    for name in ("BTC_USD-1h.feather", "ETH_USD-1h.feather"):
        candles = pd.read_feather(datadir / name)
        noise = np.random.default_rng(0).normal(1, 0.01, len(candles))
        for column in ("open", "high", "low", "close"):
            candles[column] *= noise
        candles.to_feather(datadir / name)
    mismatched = run_cli("validate", "--models", str(run.models), "--config", str(config),
                         "--datadir", str(datadir), "--bootstrap", "100", "--out",
                         str(tmp_path / "mismatch"))
    assert mismatched.returncode == 1
    assert "re-run forecasts differ from the export" in mismatched.stdout


@pytest.mark.integration
def test_live_historic_predictions_are_scored_like_backtest_ones(
        backtest: Callable[..., BacktestRun], tmp_path: Path) -> None:
    """A dry-run leaves `historic_predictions.pkl` (dates in `date_pred`) instead of prediction
    files; here it is built from the real backtest export."""
    run = lstm_run(backtest)
    live = tmp_path / run.identifier
    live.mkdir()
    shutil.copy(run.models / "run_params.json", live)
    historic = {}
    for pair in ("BTC/USD", "ETH/USD"):
        coin = pair.split("/")[0].lower()
        files = sorted((run.models / "backtesting_predictions").glob(f"cb_{coin}_*.feather"))
        frame = pd.concat([pd.read_feather(f) for f in files], ignore_index=True)
        historic[pair] = frame.rename(columns={"date": "date_pred"})
    with (live / "historic_predictions.pkl").open("wb") as fh:
        pickle.dump(historic, fh)
    result = run_cli("validate", "--models", str(live), "--bootstrap", "100", "--out",
                     str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = _report(tmp_path / "out")
    assert set(report["forecasts"]) == {"live"}
    backtest_report = _report(run.userdir / "validation" / run.identifier)
    live_12 = next(h for h in report["forecasts"]["live"]["horizons"] if h["horizon"] == 12)
    bt_12 = next(h for h in backtest_report["forecasts"]["backtest"]["horizons"]
                 if h["horizon"] == 12)
    assert live_12["pooled"]["model"]["rmse"]["value"] == pytest.approx(
        bt_12["pooled"]["model"]["rmse"]["value"])
    assert "live forecasts" in result.stdout
