"""`freqai-seq lookahead`: freqtrade's `lookahead-analysis` of a FreqAI strategy, offline.

freqtrade backtests the whole timerange once, then, for each analysed trade, backtests again with
the data cut off one candle after its entry and one candle after its exit, and compares: an entry
or exit that disappears, or a column whose value on a shared candle changes, means the strategy
used candles it could not have seen. With FreqAI each of those backtests retrains the models, and
freqtrade deletes `user_data/models/<identifier>` before each one, so the run gets a throw-away
identifier of its own (`lookahead-<model>-<UTC time>`), whose models folder, run config and
record are removed afterwards: a real run's models are never touched.

freqtrade's table names a column as soon as it differs on any shared candle. With FreqAI one
candle always differs: freqtrade loads candles up to and including the cut's end, while FreqAI's
backtest windows stop before it, so the cut run's last candle gets no prediction (`do_predict`
0, the `&` columns 0) and every column built from the prediction differs there. That candle is
after the analysed entry or exit, and it is no look-ahead. FreqAI also drops the `%` features
from the dataframe it returns, so a feature that looks ahead only shows through the predictions
and signals it changes. To tell the missing prediction apart from real bias, freqtrade runs
unchanged under `python -m freqai_seq.runs.lookahead`, which also records every difference
behind the table; the verdict then allows exactly two kinds:

- on the cut run's last candle, when FreqAI did not predict it, a column holding the value it has
  on every candle FreqAI filled without a model (a feature or indicator varies there: never);
- `&` predictions that agree to float32 rounding (batched inference over more or fewer rows).

Everything else (a changed entry or exit, a threshold, a signal or a prediction on an earlier
candle, any indicator that differs) is look-ahead bias, and the command exits 1.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freqai_seq import paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.runs.run_config import freqai_identifier
from freqai_seq.runs.runner import BacktestRequest, passthrough, run_offline

logger = logging.getLogger(__name__)

DEFAULT_TIMERANGE = "20190801-20190901"  # 33 trades on the two pairs: 20 get analysed
DEFAULT_PAIRS = ("BTC/USD", "ETH/USD")
DEFAULT_TRAINING_PARAMS = paths.PARAMS / "lookahead.json"  # a small network: about a minute
# float32 rounding of the same window in differently sized batches: a few 1e-7 of the label's
# standard deviation; a prediction that saw the future moves by a sizeable fraction of it
PREDICTION_TOLERANCE = 1e-5


def throwaway_identifier(model: str, now: datetime | None = None) -> str:
    """`lookahead-<model>-<UTC time>`: unique per run, never a real run's identifier."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{freqai_identifier('lookahead', model)}-{stamp}"


# ------------------------------------------------------------------ freqtrade's table
@dataclass(frozen=True)
class LookaheadResult:
    """One row of freqtrade's "Lookahead Analysis" table."""

    strategy: str
    has_bias: str  # "Yes", "No", or freqtrade's "too few trades ..." / "error while checking"
    total_signals: int | None = None
    biased_entry_signals: int | None = None
    biased_exit_signals: int | None = None
    biased_indicators: tuple[str, ...] = ()

    @property
    def non_target_indicators(self) -> tuple[str, ...]:
        """Flagged columns that are not FreqAI `&` targets / predictions."""
        return tuple(c for c in self.biased_indicators if not c.startswith("&"))

    def signal_problems(self) -> list[str]:
        """Why the trades fail the check; empty when every entry and exit survived the cuts."""
        if self.has_bias not in ("Yes", "No"):
            return [f"the analysis did not complete: {self.has_bias}"]
        return [f"{count} of {self.total_signals} {kind} signals change when later candles are "
                "removed" for kind, count in (("entry", self.biased_entry_signals),
                                              ("exit", self.biased_exit_signals)) if count]


def parse_table(output: str, strategy: str) -> LookaheadResult | None:
    """The strategy's row of the table freqtrade prints at the end (rich box drawing, one line
    per row because the output is made on a wide virtual terminal)."""
    for line in reversed(output.splitlines()):
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) != 7 or cells[1] != strategy:
            continue
        _, name, has_bias, total, entry, exit_, indicators = cells

        def number(text: str) -> int | None:
            return int(text) if text.isdigit() else None

        return LookaheadResult(name, has_bias, number(total), number(entry), number(exit_),
                               tuple(i.strip() for i in indicators.split(",") if i.strip()))
    return None


# ------------------------------------------------------------------ the differences behind it
@dataclass(frozen=True)
class Difference:
    """One column on one candle that differs between the full and a cut backtest."""

    pair: str
    date: str
    column: str
    full: Any
    cut: Any
    last_candle: bool  # the cut run's last candle
    cut_predicted: bool  # FreqAI's do_predict on that candle in the cut run
    # the cut value is the one the column holds on every candle FreqAI left without prediction
    like_unpredicted: bool
    scale: float | None = None  # `&` columns: the label's standard deviation on that candle

    @property
    def unpredicted_boundary(self) -> bool:
        """The cut's last candle, which FreqAI did not predict, holding what the column holds
        wherever FreqAI made no prediction: the difference comes from the missing prediction.
        A feature or indicator varies over those candles, so its differences never pass."""
        return self.last_candle and not self.cut_predicted and self.like_unpredicted

    @property
    def rounding(self) -> bool:
        """An `&` prediction equal up to float32 rounding (relative to the label's spread)."""
        if not self.column.startswith("&"):
            return False
        try:
            full, cut = float(self.full), float(self.cut)
        except (TypeError, ValueError):
            return False
        scale = self.scale if self.scale and math.isfinite(self.scale) else max(abs(full),
                                                                               abs(cut))
        return abs(full - cut) <= PREDICTION_TOLERANCE * scale

    def __str__(self) -> str:
        return f"{self.pair} {self.date} {self.column}: {self.full!r} (full) != {self.cut!r} (cut)"


@dataclass(frozen=True)
class Explanation:
    comparisons: int
    boundary: list[Difference]
    rounding: list[Difference]
    unexplained: list[Difference]

    def summary(self) -> str:
        lines = [f"{self.comparisons} cut backtests compared with the full one, candle by "
                 "candle:"]
        cut_ends = len({(d.pair, d.date) for d in self.boundary})
        columns = sorted({d.column for d in self.boundary})
        lines.append(f"  on the last candle of {cut_ends} cut backtests, where FreqAI made no "
                     f"prediction: {', '.join(columns) or 'nothing'} (not look-ahead)")
        if self.rounding:
            worst = max(self.rounding, key=lambda d: abs(float(d.full) - float(d.cut)))
            lines.append(f"  `&` predictions on {len(self.rounding)} earlier candles within "
                         f"float32 rounding (largest: {worst})")
        lines.append(f"  anything else: {len(self.unexplained)} difference(s)")
        lines.extend(f"    {d}" for d in self.unexplained[:20])
        return "\n".join(lines)


def explain(records: Iterable[dict[str, Any]]) -> Explanation:
    comparisons = 0
    boundary: list[Difference] = []
    rounding: list[Difference] = []
    unexplained: list[Difference] = []
    for record in records:
        comparisons += 1
        for row in record["differences"]:
            diff = Difference(pair=record["pair"], **row)
            if diff.unpredicted_boundary:
                boundary.append(diff)
            elif diff.rounding:
                rounding.append(diff)
            else:
                unexplained.append(diff)
    return Explanation(comparisons, boundary, rounding, unexplained)


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def _same(a: Any, b: Any) -> Any:
    """Element-wise equality of two aligned series, missing on both sides counting as equal."""
    return (a == b) | (a.isna() & b.isna())


def _holds_everywhere(values: Any, value: Any) -> bool:
    """Every entry of the series `values` is `value` (missing is missing); False when empty."""
    import pandas as pd

    if len(values) == 0:
        return False
    if pd.isna(value):
        return bool(values.isna().all())
    return bool((values == value).all())


def record_differences(path: Path, full_df: Any, cut_df: Any, pair: str) -> None:
    """Append every (candle, column) where `cut_df` differs from the same rows of `full_df`
    to the JSON-lines file `path`, with what is needed to judge it (see `Difference`)."""
    full_df = full_df.loc[cut_df.index]
    last = cut_df.index[-1]
    has_predict = "do_predict" in cut_df
    predicted = cut_df["do_predict"] == 1 if has_predict else None
    # Candles FreqAI filled without a model (before the first backtest window): do_predict 0
    # and every `&` column 0. The cut's last candle is excluded: it is the one being judged.
    targets = [c for c in cut_df.columns if str(c).startswith("&")]
    filled = (cut_df["do_predict"] == 0) if has_predict else cut_df["date"].isna()
    for column in targets:
        filled &= cut_df[column] == 0
    filled = filled.drop(index=last)
    rows = []
    for column in cut_df.columns:
        full, cut = full_df[column], cut_df[column]
        for index in cut_df.index[(~_same(full, cut)).to_numpy()]:
            rows.append({
                "date": str(cut_df.at[index, "date"]), "column": column,
                "full": _plain(full[index]), "cut": _plain(cut[index]),
                "last_candle": bool(index == last),
                "cut_predicted": bool(predicted[index]) if predicted is not None else True,
                "like_unpredicted": _holds_everywhere(cut[filled[filled].index], cut[index]),
                "scale": _plain(cut_df.at[index, f"{column}_std"])
                if f"{column}_std" in cut_df else None,
            })
    with path.open("a") as out:
        out.write(json.dumps({"pair": pair, "cut_end": str(cut_df.at[last, "date"]),
                              "differences": rows}) + "\n")


def _probe_main(argv: list[str]) -> None:
    """`python -m freqai_seq.runs.lookahead --record FILE <freqtrade arguments>`: freqtrade's
    command line, unchanged, with each comparison lookahead-analysis makes also recorded to FILE."""
    if argv[:1] != ["--record"] or len(argv) < 3:
        raise SystemExit("usage: python -m freqai_seq.runs.lookahead --record FILE "
                         "lookahead-analysis ...")
    record = Path(argv[1])
    from freqtrade.main import main
    from freqtrade.optimize.analysis.lookahead import LookaheadAnalysis

    original = LookaheadAnalysis.analyze_indicators

    def analyze_indicators(self: Any, full_vars: Any, cut_vars: Any, current_pair: str) -> Any:
        record_differences(record, full_vars.indicators[current_pair],
                           cut_vars.indicators[current_pair], current_pair)
        return original(self, full_vars, cut_vars, current_pair)

    LookaheadAnalysis.analyze_indicators = analyze_indicators  # type: ignore[method-assign]
    main(argv[2:])


# ------------------------------------------------------------------ the command
def run_lookahead(request: BacktestRequest, minimum_trades: int, targeted_trades: int,
                  keep: bool = False) -> int:
    """Run the analysis under a throw-away identifier; 0 when no look-ahead bias is found."""
    if request.identifier is None:
        request = replace(request, identifier=throwaway_identifier(request.model))
    identifier = request.run_identifier
    models = request.userdir / "models" / identifier
    run_config = request.userdir / "runs" / f"{identifier}.json"
    record = request.userdir / "runs" / f"{identifier}.differences.jsonl"
    if models.exists() or run_config.exists():
        raise FreqaiSeqError(f"{models} or {run_config} already exists; lookahead-analysis "
                             "deletes its identifier's models folder, so it only runs under "
                             "a new identifier.")
    extra = passthrough(request.extra)
    request = replace(request, extra=["--minimum-trade-amount", str(minimum_trades),
                                      "--targeted-trade-amount", str(targeted_trades), *extra])
    try:
        code, failed, tail = run_offline(
            request, "lookahead-analysis",
            launcher=("-m", "freqai_seq.runs.lookahead", "--record", str(record)))
        records = read_records(record)
    finally:
        if keep:
            logger.info("Kept %s, %s and %s (--keep)", models, run_config, record)
        else:
            shutil.rmtree(models, ignore_errors=True)
            run_config.unlink(missing_ok=True)
            record.unlink(missing_ok=True)
    if code != 0:
        return code
    if failed:
        logger.error("%d FreqAI trainings failed and were skipped: the compared backtests lack "
                     "predictions, so the analysis means nothing. Exiting non-zero.", failed)
        return 1
    return verdict(parse_table(tail, request.strategy), explain(records), request.strategy)


def verdict(result: LookaheadResult | None, explanation: Explanation, strategy: str) -> int:
    """Log the verdict; 0 when no look-ahead bias, 1 otherwise."""
    if result is None:
        logger.error("No row for %s in freqtrade's lookahead-analysis table.", strategy)
        return 1
    problems = result.signal_problems()
    if not problems and explanation.comparisons == 0:
        problems.append("freqtrade compared no cut backtest (nothing recorded)")
    if explanation.unexplained:
        problems.append(f"{len(explanation.unexplained)} value(s) change when later candles "
                        "are removed (listed above)")
    print(f"\nfreqtrade flagged: {', '.join(result.biased_indicators) or 'nothing'}\n"
          f"{explanation.summary()}")
    for problem in problems:
        logger.error("%s fails the look-ahead check: %s", strategy, problem)
    if problems:
        return 1
    logger.info("%s: no look-ahead bias in %d analysed trades: every entry and exit survives "
                "the cuts, and nothing differs before the cut's end beyond float32 rounding "
                "of the predictions.", strategy, result.total_signals)
    return 0


if __name__ == "__main__":
    _probe_main(sys.argv[1:])
