"""Forecast scores with moving-block bootstrap confidence intervals.

Every score is computed on the same rows for the model and its baselines. The bootstrap
resamples candle dates, not rows: overlapping h-candle returns are autocorrelated up to lag h-1,
pairs move together, and every prediction of one walk-forward window comes from one model, so it
draws blocks of `max(h, ceil(D^(1/3)), window)` consecutive dates (D dates in all; `window` the
candles of one retrain window, `backtest_period_days`) and every pair's row of a drawn date comes
with it. A resample is a count per row, so the
scores are count-weighted and need no copies of the data.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

ROW_METRICS = ("mse", "mae", "rmse", "mse_vs_zero", "r2", "explained_variance",
               "direction_accuracy", "pearson", "spearman_ic")
# Pair-aware ICs: the mean of each pair's own time-series IC, and the mean over dates of the
# rank correlation across pairs (dates with at least MIN_CROSS_SECTION pairs).
GROUP_METRICS = ("mean_pair_ic", "cross_sectional_ic")
METRICS = ROW_METRICS + GROUP_METRICS
MIN_CROSS_SECTION = 3
CHUNK = 200  # resamples scored at once, to bound memory


def point_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The one definition of each score (bench, validate, tune and skill use it): MSE, MAE,
    RMSE; MSE over the MSE of always forecasting 0; direction accuracy over the rows where
    neither forecast nor truth is 0 (a zero forecast takes no side, so it is neither a hit nor
    a miss; NaN for a forecast that is always 0); R2 (1 - MSE / variance of the truth, as
    sklearn's r2_score) and explained variance (1 - variance of the error / variance of the
    truth: blind to a constant bias, as sklearn's explained_variance_score); Pearson and
    Spearman correlation (NaN for a constant forecast)."""
    err = pred - truth
    signed = (pred != 0) & (truth != 0)
    hits = (np.sign(pred) == np.sign(truth)) & signed
    mse = float(np.mean(err**2))
    zero = float(np.mean(truth**2))
    spread = float(np.var(truth))
    direction = float(hits.sum() / signed.sum()) if signed.any() else math.nan
    constant = np.ptp(pred) == 0 or np.ptp(truth) == 0
    ic = math.nan if constant else float(np.corrcoef(rankdata(pred), rankdata(truth))[0, 1])
    pearson = math.nan if constant else float(np.corrcoef(pred, truth)[0, 1])
    return {"mse": mse, "mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(mse),
            "mse_vs_zero": mse / zero if zero > 0 else math.nan,
            "r2": 1 - mse / spread if spread > 0 else math.nan,
            "explained_variance": 1 - float(np.var(err)) / spread if spread > 0 else math.nan,
            "direction_accuracy": direction, "pearson": pearson, "spearman_ic": ic}


def _weighted_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mid-ranks of each row's value in the resample its counts describe (rows drawn c times
    take c consecutive ranks; the order of equal values is kept as sorted)."""
    order = np.argsort(values, kind="stable")
    c = counts[:, order]
    sorted_ranks = np.cumsum(c, axis=1) - (c - 1) / 2
    ranks = np.empty_like(sorted_ranks)
    ranks[:, order] = sorted_ranks
    return ranks


def _weighted_pearson(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1, keepdims=True)
    da = a - (w * a).sum(axis=1, keepdims=True) / total
    db = b - (w * b).sum(axis=1, keepdims=True) / total
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * da * db).sum(axis=1) / np.sqrt((w * da**2).sum(axis=1)
                                                   * (w * db**2).sum(axis=1))


def resampled_scores(pred: np.ndarray, truth: np.ndarray,
                     counts: np.ndarray) -> dict[str, np.ndarray]:
    """The scores of every resample; `counts` is (resamples, rows)."""
    err = pred - truth
    total = counts.sum(axis=1)
    mse = (counts * err**2).sum(axis=1) / total
    signed = (pred != 0) & (truth != 0)
    hits = (np.sign(pred) == np.sign(truth)) & signed
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = (counts * hits).sum(axis=1) / (counts * signed).sum(axis=1)
    if np.ptp(pred) == 0 or np.ptp(truth) == 0:
        ic = pearson = np.full(len(counts), np.nan)
    else:
        ic = _weighted_pearson(_weighted_ranks(pred, counts), _weighted_ranks(truth, counts),
                               counts)
        pearson = _weighted_pearson(pred, truth, counts)
    spread = _weighted_variance(truth, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        vs_zero = mse / ((counts * truth**2).sum(axis=1) / total)
        r2 = np.where(spread > 0, 1 - mse / spread, np.nan)
        explained = np.where(spread > 0, 1 - _weighted_variance(err, counts) / spread, np.nan)
    return {"mse": mse, "mae": (counts * np.abs(err)).sum(axis=1) / total, "rmse": np.sqrt(mse),
            "mse_vs_zero": vs_zero, "r2": r2, "explained_variance": explained,
            "direction_accuracy": direction, "pearson": pearson, "spearman_ic": ic}


def _weighted_variance(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True)
    centred = values - (counts * values).sum(axis=1, keepdims=True) / total
    return (counts * centred**2).sum(axis=1) / total[:, 0]


def _date_ics(pred: np.ndarray, truth: np.ndarray, date_codes: np.ndarray) -> np.ndarray:
    """(dates,) Spearman IC across the rows (pairs) of each date; NaN where fewer than
    MIN_CROSS_SECTION rows or a constant side."""
    order = np.argsort(date_codes, kind="stable")
    n_dates = int(date_codes.max()) + 1 if len(date_codes) else 0
    bounds = np.searchsorted(date_codes[order], np.arange(n_dates + 1))  # codes are 0..D-1
    out = np.full(n_dates, np.nan)
    for lo, hi in itertools.pairwise(bounds):
        rows = order[lo:hi]
        p, t = pred[rows], truth[rows]
        if len(rows) >= MIN_CROSS_SECTION and np.ptp(p) > 0 and np.ptp(t) > 0:
            out[date_codes[rows[0]]] = np.corrcoef(rankdata(p), rankdata(t))[0, 1]
    return out


def group_scores(pred: np.ndarray, truth: np.ndarray, groups: np.ndarray,
                 date_codes: np.ndarray, date_ic: np.ndarray,
                 counts: np.ndarray) -> dict[str, np.ndarray]:
    """Mean per-pair IC and cross-sectional IC of every resample (`counts`: (resamples, rows);
    one row of ones gives the point values; `date_ic`: `_date_ics` of the same forecast). Rows
    of a date share their count."""
    pair_ics = []
    for g in np.unique(groups):
        rows = groups == g
        if np.ptp(pred[rows]) == 0 or np.ptp(truth[rows]) == 0:
            continue
        c = counts[:, rows]
        pair_ics.append(_weighted_pearson(_weighted_ranks(pred[rows], c),
                                          _weighted_ranks(truth[rows], c), c))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without a pair's rows
        mean_pair = (np.nanmean(np.vstack(pair_ics), axis=0) if pair_ics
                     else np.full(len(counts), np.nan))
        first_row = np.unique(date_codes, return_index=True)[1]  # a date's count, once
        per_date = counts[:, first_row]
        usable = np.isfinite(date_ic)
        cross = ((per_date[:, usable] * date_ic[usable]).sum(axis=1)
                 / per_date[:, usable].sum(axis=1))
    return {"mean_pair_ic": mean_pair, "cross_sectional_ic": cross}


def block_length(n_dates: int, horizon: int, min_block: int = 0) -> int:
    """`min_block`: the candles of one retrain window (0 when unknown)."""
    return max(1, min(n_dates, max(horizon, min_block, math.ceil(n_dates ** (1 / 3)))))


def date_block_counts(date_codes: np.ndarray, horizon: int, resamples: int,
                      rng: np.random.Generator, min_block: int = 0) -> np.ndarray:
    """(resamples, rows): how often each row is drawn when blocks of consecutive dates are
    resampled to the original number of dates. `date_codes` numbers the rows' dates 0..D-1
    in time order; rows of the same date always share their count."""
    n_dates = int(date_codes.max()) + 1
    length = block_length(n_dates, horizon, min_block)
    blocks = math.ceil(n_dates / length)
    starts = rng.integers(0, n_dates - length + 1, size=(resamples, blocks))
    drawn = (starts[:, :, None] + np.arange(length)).reshape(resamples, -1)[:, :n_dates]
    flat = drawn + (np.arange(resamples) * n_dates)[:, None]
    per_date = np.bincount(flat.ravel(), minlength=resamples * n_dates)
    return per_date.reshape(resamples, n_dates)[:, date_codes].astype(np.float64)


@dataclass(frozen=True)
class ScoredForecast:
    value: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]

    def as_dict(self) -> dict[str, dict[str, float | None]]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {m: {"value": clean(self.value[m]), "ci_low": clean(self.ci_low[m]),
                    "ci_high": clean(self.ci_high[m])} for m in METRICS}


def _resampled(forecasts: dict[str, np.ndarray], truth: np.ndarray, codes: np.ndarray,
               groups: np.ndarray, horizon: int, resamples: int, seed: int,
               min_block: int) -> dict[str, dict[str, np.ndarray]] | None:
    """Every metric of every forecast on the same block resamples (None when there are fewer
    than two blocks of dates: a bootstrap of one block only repeats the data)."""
    n_dates = int(codes.max()) + 1 if len(codes) else 0
    if n_dates < 2 * block_length(max(n_dates, 1), horizon, min_block):
        return None
    date_ics = {n: _date_ics(p, truth, codes) for n, p in forecasts.items()}
    rng = np.random.default_rng(seed)
    samples: dict[str, dict[str, list[np.ndarray]]] = {n: {m: [] for m in METRICS}
                                                       for n in forecasts}
    done = 0
    while done < resamples:
        counts = date_block_counts(codes, horizon, min(CHUNK, resamples - done), rng,
                                   min_block)
        done += len(counts)
        for name, pred in forecasts.items():
            scores = {**resampled_scores(pred, truth, counts),
                      **group_scores(pred, truth, groups, codes, date_ics[name], counts)}
            for metric, values in scores.items():
                samples[name][metric].append(values)
    return {n: {m: np.concatenate(v) for m, v in by_metric.items()}
            for n, by_metric in samples.items()}


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def _inputs(truth: np.ndarray, dates: np.ndarray,
            groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    codes = np.unique(dates, return_inverse=True)[1].ravel()
    return codes, np.zeros(len(truth), dtype=np.int64) if groups is None else groups


def score_with_ci(forecasts: dict[str, np.ndarray], truth: np.ndarray, dates: np.ndarray,
                  horizon: int, resamples: int, seed: int, level: float = 0.95,
                  min_block: int = 0,
                  groups: np.ndarray | None = None) -> dict[str, ScoredForecast]:
    """Scores of several forecasts of the same truth, resampled with the same date blocks so
    their intervals are comparable. Intervals are NaN when there are fewer than two blocks of
    dates. `groups` (the pair of each row) defines the mean per-pair IC (without it all rows are
    one group); the cross-sectional IC ranks the rows of each date."""
    codes, groups = _inputs(truth, dates, groups)
    samples = _resampled(forecasts, truth, codes, groups, horizon, resamples, seed, min_block)
    out: dict[str, ScoredForecast] = {}
    for name, pred in forecasts.items():
        low, high = {}, {}
        for metric in METRICS:
            values = samples[name][metric] if samples else np.array([np.nan])
            low[metric], high[metric] = _interval(values, level)
        point = {**point_scores(pred, truth), **{
            m: float(v[0]) for m, v in group_scores(
                pred, truth, groups, codes, _date_ics(pred, truth, codes),
                np.ones((1, len(truth)))).items()}}
        out[name] = ScoredForecast(point, low, high)
    return out


def paired_differences(forecasts: dict[str, np.ndarray], baseline: str, metric: str,
                       truth: np.ndarray, dates: np.ndarray, horizon: int, resamples: int,
                       seed: int, level: float = 0.95, min_block: int = 0,
                       groups: np.ndarray | None = None) -> dict[str, tuple[float, float, float]]:
    """`metric` of each forecast minus the baseline's, with the paired-bootstrap interval of
    the difference (both scored on the same resamples): (difference, low, high)."""
    codes, groups = _inputs(truth, dates, groups)
    ones = np.ones((1, len(truth)))

    def point(pred: np.ndarray) -> float:
        if metric in GROUP_METRICS:
            return float(group_scores(pred, truth, groups, codes, _date_ics(pred, truth, codes),
                                      ones)[metric][0])
        return point_scores(pred, truth)[metric]

    samples = _resampled(forecasts, truth, codes, groups, horizon, resamples, seed, min_block)
    base = point(forecasts[baseline])
    out = {}
    for name, pred in forecasts.items():
        diff = (samples[name][metric] - samples[baseline][metric] if samples
                else np.array([np.nan]))
        out[name] = (point(pred) - base, *_interval(diff, level))
    return out


def means_with_ci(values: dict[str, np.ndarray], dates: np.ndarray, horizon: int,
                  resamples: int, seed: int, level: float = 0.95,
                  min_block: int = 0) -> dict[str, tuple[float, float, float]]:
    """(mean, low, high) of per-row values (a coverage indicator, a width, an interval score,
    or the row-wise difference of two forecasts' scores: then the interval is the paired
    bootstrap's), resampled with the same date blocks as every other score."""
    codes = np.unique(dates, return_inverse=True)[1].ravel()
    n_dates = int(codes.max()) + 1 if len(codes) else 0
    point = {n: float(np.mean(v)) if len(v) else math.nan for n, v in values.items()}
    if n_dates < 2 * block_length(max(n_dates, 1), horizon, min_block):
        return {n: (p, math.nan, math.nan) for n, p in point.items()}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {n: [] for n in values}
    done = 0
    while done < resamples:
        counts = date_block_counts(codes, horizon, min(CHUNK, resamples - done), rng, min_block)
        done += len(counts)
        total = counts.sum(axis=1)
        for name, v in values.items():
            samples[name].append(counts @ v / total)
    return {n: (point[n], *_interval(np.concatenate(s), level)) for n, s in samples.items()}
