"""`freqai-seq bench`: the same walk-forward backtest with our sequence models and FreqAI's
built-ins, plus in-process timings of inference (batched, and FreqAI's live step per new candle
on the saved models) and of a bare torch loop, in one run.

Every figure is measured in this run on this machine; ratios compare figures of the same run.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from freqai_seq import paths
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.bench_settings import (
    BENCH_MODELS,
    BUILTIN_TORCH,
    HYBRID,
    MC_PASSES,
    BenchModel,
    BenchSettings,
)
from freqai_seq.evaluation.live_latency import StrategyFrames, measure
from freqai_seq.evaluation.measured import MeasuredBacktest, evaluation_request, run_measured
from freqai_seq.evaluation.metrics import realized_forward_return, score, spread_error_ic
from freqai_seq.labels import return_label, uncertainty_label
from freqai_seq.market import DEFAULT_HOST
from freqai_seq.market.process import market_running
from freqai_seq.model.config_schema import HybridConfig, SequenceConfig
from freqai_seq.runs.walkforward.plan import WorkerPlan

logger = logging.getLogger(__name__)



@dataclass
class ModelResult:
    model: str
    wall_s: float
    trainings: int
    train_s_median: float
    train_s_total: float
    scored_rows: int
    spearman_ic: float
    direction_accuracy: float
    mse_vs_zero: float
    r2: float
    explained_variance: float
    pearson: float
    spread_error_ic: float | None  # models with an MC-dropout spread column only
    trades: int
    profit_pct: float


def hybrid_pool_horizons(window: int) -> list[int]:
    """The hybrid's default pooling horizons that fit the window (the window itself if none)."""
    return [h for h in HybridConfig.pool_horizons if h <= window] or [window]


def training_params(bm: BenchModel, s: BenchSettings) -> dict[str, Any]:
    """Same epochs and batch size for every network; early stopping off so epochs are equal."""
    if bm.sequence:
        params = {"window": s.window, "epochs": s.epochs, "batch_size": s.batch_size,
                  "early_stopping_patience": 0, **bm.params}
        if bm.freqaimodel == HYBRID:
            params["pool_horizons"] = hybrid_pool_horizons(s.window)
        return params
    if bm.freqaimodel == "LightGBMRegressor":
        return json.loads((paths.PARAMS / "lightgbm.json").read_text())
    return {"learning_rate": 3e-4, "model_kwargs": BUILTIN_TORCH[bm.freqaimodel],
            "trainer_kwargs": {"n_epochs": s.epochs, "batch_size": s.batch_size,
                               "n_steps": None}}


def _run_model(bm: BenchModel, s: BenchSettings, pairs: tuple[str, ...], port: int,
               state_file: Path) -> MeasuredBacktest:
    shutil.rmtree(s.workspace.userdir / "models" / bm.identifier, ignore_errors=True)  # anew
    run_dir = s.out_dir / bm.identifier
    run_dir.mkdir(parents=True, exist_ok=True)
    overlay = run_dir / "overlay.json"
    # Saved models: the live latency is timed on each pair's newest one after the backtests.
    freqai: dict[str, Any] = {"save_backtest_models": True, "train_period_days": s.train_days}
    if bm.freqaimodel == "PyTorchTransformerRegressor":
        freqai["conv_width"] = s.window
    overlay.write_text(json.dumps({"exchange": {"pair_whitelist": list(pairs)},
                                   "freqai": freqai}))
    params = run_dir / "params.json"
    params.write_text(json.dumps(training_params(bm, s)))
    request = evaluation_request(s.workspace, [overlay], bm.strategy, bm.freqaimodel,
                                 s.timerange, bm.identifier, port, state_file, params)
    log_path = run_dir / "backtest.log"
    plan = (None if s.workers is None and s.cluster is None
            else WorkerPlan(s.workers or 0, s.training_threads, s.cluster))
    return run_measured(bm.name, request, log_path, plan)


def _quality(bm: BenchModel, horizon: int, timeframe: str, pairs: tuple[str, ...],
             userdir: Path, datadir: Path) -> tuple[int, float, float, float, float, float, float,
                                     float | None]:
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    label, unc = return_label(horizon), uncertainty_label(return_label(horizon))
    folder = userdir / "models" / bm.identifier / "backtesting_predictions"
    preds, truths, spreads = [], [], []
    handler = get_datahandler(datadir, "feather")
    for pair in pairs:
        coin = pair.split("/")[0].lower()
        files = sorted(folder.glob(f"cb_{coin}_*_prediction.feather"))
        frame = pd.concat([pd.read_feather(f) for f in files], ignore_index=True)
        frame = frame[frame["do_predict"] == 1]
        candles = handler.ohlcv_load(pair, timeframe, CandleType.SPOT, fill_missing=False)
        truth = realized_forward_return(candles, horizon, timeframe)
        preds.append(frame[label].to_numpy())
        truths.append(truth.reindex(pd.DatetimeIndex(frame["date"])).to_numpy())
        spreads.append(frame[unc].to_numpy() if unc in frame else np.full(len(frame), np.nan))
    pred, truth_all, spread = (np.concatenate(a) for a in (preds, truths, spreads))
    result = score(pred, truth_all)
    spread_ic = (spread_error_ic(pred, spread, truth_all)
                 if bm.params.get("mc_dropout_passes") else None)
    return (result.rows, result.spearman_ic, result.direction_accuracy, result.mse_vs_zero,
            result.r2, result.explained_variance, result.pearson, spread_ic)


def _time_call(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def inference_throughput(n_features: int, window: int, rows: int = 2048) -> dict[str, float]:
    """Candles per second on the same random windows: our batched path vs per-candle loops."""
    from freqtrade.freqai.torch.PyTorchTransformerModel import PyTorchTransformerModel

    from freqai_seq.model.sequence_model import HistoryTail, SequenceModel

    torch.manual_seed(0)
    features = np.random.default_rng(0).normal(size=(rows, n_features)).astype(np.float32)
    dates = np.arange(rows, dtype=np.int64) * 3_600_000_000_000
    valid = np.ones(rows, dtype=bool)
    tail = HistoryTail(np.empty(0, np.int64), pd.DataFrame())
    out: dict[str, float] = {}
    x = torch.as_tensor(features)
    names = [f"f{i}" for i in range(n_features)]
    for kind in ("lstm", "gru"):
        model = SequenceModel(kind, SequenceConfig(window=window, device="cpu"), names, ["y"],
                              3_600_000_000_000, tail)
        n_pred = rows - window + 1
        out[f"{kind}_batched"] = n_pred / _time_call(lambda m=model: m.predict_rows(
            features, dates, valid))
        def loop(m=model) -> None:
            with torch.no_grad():
                for end in range(window - 1, rows):
                    m.net(x[end - window + 1:end + 1].unsqueeze(0))

        out[f"{kind}_per_candle_loop"] = n_pred / _time_call(loop, repeat=1)
    hybrid_cfg = HybridConfig(window=window, device="cpu",
                              pool_horizons=tuple(hybrid_pool_horizons(window)))
    hybrid = SequenceModel("cnn_lstm_attention", hybrid_cfg, names, ["y"], 3_600_000_000_000,
                           tail)
    out["hybrid_batched"] = (rows - window + 1) / _time_call(
        lambda: hybrid.predict_rows(features, dates, valid))
    out[f"hybrid_batched_mc{MC_PASSES}"] = (rows - window + 1) / _time_call(
        lambda: hybrid.predict_rows(features, dates, valid, passes=MC_PASSES))
    transformer = PyTorchTransformerModel(input_dim=n_features, output_dim=1,
                                          time_window=window,
                                          **BUILTIN_TORCH["PyTorchTransformerRegressor"]).eval()
    xt = torch.as_tensor(features).unsqueeze(0)

    def transformer_loop() -> None:  # what PyTorchTransformerRegressor.predict does
        with torch.no_grad():
            for i in range(rows - window):
                transformer(xt[:, i:i + window, :])

    out["transformer_per_candle_loop"] = (rows - window) / _time_call(transformer_loop,
                                                                      repeat=1)
    return out


def bare_loop_seconds(n_rows: int, n_features: int, s: BenchSettings) -> float:
    """Plain torch training of the default LSTM on tensors of one training's shape: the same
    optimizer, but no validation, clipping, schedule, early stopping or FreqAI around it."""
    from freqai_seq.model.networks import build_network
    from freqai_seq.model.training import make_optimizer

    cfg = SequenceConfig(window=s.window, epochs=s.epochs, batch_size=s.batch_size)
    torch.manual_seed(0)
    net = build_network("lstm", n_features, 1, cfg.to_dict())
    x = torch.randn(n_rows, n_features)
    y = torch.randn(n_rows - s.window + 1, 1)
    windows = x.unfold(0, s.window, 1).transpose(1, 2)
    optimizer = make_optimizer(net, cfg, torch.device("cpu"))  # the same optimizer as ours

    def train() -> None:
        net.train()
        for _ in range(s.epochs):
            order = torch.randperm(len(windows))
            for start in range(0, len(order), s.batch_size):
                idx = order[start:start + s.batch_size]
                loss = torch.nn.functional.mse_loss(net(windows[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    return _time_call(train, repeat=3)




def typical_trainings(models: Path) -> tuple[int, int, float]:
    """(rows, features, median seconds) of the trainings with the most common feature count,
    from the training record each saved model holds (`save_backtest_models`): the bare loop is
    timed on that shape so the comparison is like for like."""
    from freqai_seq.model.sequence_model import SequenceModel

    records = [r for r in (SequenceModel.load(path).training
                           for path in sorted(models.glob("sub-train-*/*_model.zip"))) if r]
    if not records:
        raise FreqaiSeqError(f"No saved model with a training record in {models}.")
    features = statistics.mode(r.features for r in records)
    same = [r for r in records if r.features == features]
    return (int(statistics.median(r.rows for r in same)), features,
            statistics.median(r.seconds for r in same))


def run(s: BenchSettings) -> dict[str, Any]:
    """Every model's backtest on the workspace, then the timings; the report."""
    unknown = sorted(set(s.models) - set(BENCH_MODELS))
    if unknown:
        raise FreqaiSeqError(f"Unknown models {unknown}; choose from {list(BENCH_MODELS)}.")
    config = s.workspace.config()
    pairs = s.pairs_of(config)
    userdir = s.workspace.userdir
    horizon = int(config["freqai"]["feature_parameters"]["label_period_candles"])
    timeframe = config["timeframe"]
    s.out_dir.mkdir(parents=True, exist_ok=True)
    state_file = s.out_dir / "market.json"
    results: list[ModelResult] = []
    # A free port of its own: the benchmark never depends on (or collides with) another market.
    with market_running(s.workspace.datadir, DEFAULT_HOST, 0, state_file,
                        s.out_dir / "market.log") as market:
        for name in s.models:
            bm = BENCH_MODELS[name]
            logger.info("Benchmark: walk-forward backtest with %s", name)
            run = _run_model(bm, s, pairs, market.port, state_file)
            times = run.training_times
            quality = _quality(bm, horizon, timeframe, pairs, userdir, s.workspace.datadir)
            results.append(ModelResult(name, run.wall_s, len(times), statistics.median(times),
                                       sum(times), *quality, run.trades, run.profit_pct))
    settings = {f.name: getattr(s, f.name) for f in fields(s) if f.name != "workspace"}
    report: dict[str, Any] = {"settings": {
        **settings, "pairs": list(pairs), "out_dir": str(s.out_dir), "userdir": str(userdir),
        "configs": [str(c) for c in s.workspace.configs], "datadir": str(s.workspace.datadir)},
        "models": [asdict(r) for r in results]}
    if "PyTorchLSTMRegressor" in s.models:
        n_rows, n_features, median_s = typical_trainings(
            userdir / "models" / BENCH_MODELS["PyTorchLSTMRegressor"].identifier)
        report["bare_loop_s"] = bare_loop_seconds(n_rows, n_features, s)
        report["bare_loop_shape"] = {"rows": n_rows, "features": n_features,
                                     "plugin_median_s": median_s}
        report["inference_candles_per_s"] = inference_throughput(n_features, s.window)
    report["live_latency"] = live_latency(s, pairs)
    report["ratios"] = ratios(report)
    (s.out_dir / "bench.json").write_text(json.dumps(report, indent=2))
    return report


def live_latency(s: BenchSettings, pairs: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """FreqAI's live step per new candle per pair for every model, timed one model after the
    other once all backtests are done (see freqai_seq.evaluation.live_latency for what is timed)."""
    frames = StrategyFrames(s.workspace.datadir)
    userdir = s.workspace.userdir
    out: dict[str, dict[str, Any]] = {}
    for name in s.models:
        identifier = BENCH_MODELS[name].identifier
        logger.info("Benchmark: live latency per new candle of %s", name)
        out[name] = asdict(measure(userdir / "runs" / f"{identifier}.json", userdir, pairs,
                                   frames))
    return out


def ratios(report: dict[str, Any]) -> dict[str, float]:
    by_model = {m["model"]: m for m in report["models"]}
    out: dict[str, float] = {}
    lstm = by_model.get("PyTorchLSTMRegressor")
    if lstm and "PyTorchMLPRegressor" in by_model:
        out["lstm_wall_over_mlp_wall"] = lstm["wall_s"] / by_model["PyTorchMLPRegressor"]["wall_s"]
    if lstm and "PyTorchTransformerRegressor" in by_model:
        out["lstm_wall_over_transformer_wall"] = (
            lstm["wall_s"] / by_model["PyTorchTransformerRegressor"]["wall_s"])
    if lstm and "bare_loop_s" in report:
        out["lstm_training_over_bare_loop"] = (report["bare_loop_shape"]["plugin_median_s"]
                                               / report["bare_loop_s"])
    inference = report.get("inference_candles_per_s", {})
    if inference:
        out["lstm_batched_over_transformer_loop"] = (
            inference["lstm_batched"] / inference["transformer_per_candle_loop"])
    return out


TARGETS = {"lstm_wall_over_mlp_wall": ("<=", 1.5),
           "lstm_wall_over_transformer_wall": ("<=", 0.1),
           "lstm_training_over_bare_loop": ("<=", 1.3),
           "lstm_batched_over_transformer_loop": (">=", 5.0)}


def format_report(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"Walk-forward backtest {s['timerange']}, pairs {', '.join(s['pairs'])}, "
        f"{s['epochs']} epochs, batch {s['batch_size']}, window {s['window']} "
        f"(Transformer conv_width {s['window']}); quality on do_predict == 1 rows against "
        "realized returns recomputed from OHLCV.",
        "",
        "| model | wall s | trainings | s per training (median) | s in training | rows scored "
        "| Spearman IC | Pearson | direction acc. | MSE / zero-forecast MSE | R² "
        "| explained var. | trades | profit % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for m in report["models"]:
        lines.append(
            f"| {m['model']} | {m['wall_s']:.1f} | {m['trainings']} | "
            f"{m['train_s_median']:.2f} | {m['train_s_total']:.1f} | {m['scored_rows']} | "
            f"{m['spearman_ic']:.3f} | {m['pearson']:.3f} | {m['direction_accuracy']:.3f} | "
            f"{m['mse_vs_zero']:.3f} | {m['r2']:.3f} | {m['explained_variance']:.3f} | "
            f"{m['trades']} | {m['profit_pct']:.2f} |")
    if "bare_loop_s" in report:
        shape = report["bare_loop_shape"]
        lines += ["", f"Trainings of the LSTM with {shape['features']} features (median "
                      f"{shape['rows']} rows): {shape['plugin_median_s']:.2f} s each (median, "
                      "FreqAI data preparation included); a bare torch loop of the same network "
                      f"on tensors of that shape, same epochs and batch: "
                      f"{report['bare_loop_s']:.2f} s."]
    lines += mc_dropout_cost(report)
    inference = report.get("inference_candles_per_s", {})
    if inference:
        lines += ["", "| inference (2048 candles, same windows) | candles/s |",
                  "| --- | ---: |"]
        lines += [f"| {k} | {v:,.0f} |" for k, v in inference.items()]
    lines += live_latency_table(report)
    lines += ["", "| ratio | measured | target | met |", "| --- | ---: | ---: | --- |"]
    for key, value in report["ratios"].items():
        op, target = TARGETS[key]
        met = value <= target if op == "<=" else value >= target
        lines.append(f"| {key} | {value:.3f} | {op} {target} | {'yes' if met else 'NO'} |")
    return "\n".join(lines)


def live_latency_table(report: dict[str, Any]) -> list[str]:
    latency = report.get("live_latency", {})
    if not latency:
        return []
    first = next(iter(latency.values()))
    candles = first["calls"] // first["pairs"]
    lines = ["", f"Live inference per new candle per pair: FreqAI's per-candle model step "
                 f"(drawer load from memory + `predict` on the last `conv_width` rows: feature "
                 f"pipeline, network, inverse label scaling) with each pair's newest saved model, "
                 f"on each of the last {candles} candles of the backtest; milliseconds pooled "
                 f"over {first['pairs']} pair{'s' if first['pairs'] > 1 else ''} "
                 f"({first['calls']} calls per model); the strategy's "
                 f"feature engineering is not included.",
             "", "| model | rows per call | median ms | p95 ms | newest row usable |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {m['rows_per_call']} | {m['median_ms']:.2f} | {m['p95_ms']:.2f} | "
              f"{m['last_row_usable']:.0%} |" for name, m in latency.items()]
    return lines


def mc_dropout_cost(report: dict[str, Any]) -> list[str]:
    """What MC dropout costs and whether its spread warns of larger errors, in words."""
    by_model = {m["model"]: m for m in report["models"]}
    mc = next((m for m in report["models"] if m["spread_error_ic"] is not None), None)
    if mc is None:
        return []
    plain = by_model.get(mc["model"].rsplit("+mc", 1)[0])
    lines = ["", f"MC dropout ({MC_PASSES} passes): Spearman correlation of the spread "
                 f"(`&-unc_*`) with the absolute error of the forecast: "
                 f"{mc['spread_error_ic']:.3f}."]
    if plain:
        lines[-1] += (f" Backtest wall {mc['wall_s']:.1f} s against {plain['wall_s']:.1f} s "
                      f"without ({mc['wall_s'] / plain['wall_s']:.2f}x).")
    inference = report.get("inference_candles_per_s", {})
    if "hybrid_batched" in inference:
        with_mc = inference[f"hybrid_batched_mc{MC_PASSES}"]
        lines[-1] += (f" Hybrid inference {with_mc:,.0f} candles/s with the passes against "
                      f"{inference['hybrid_batched']:,.0f} without "
                      f"({inference['hybrid_batched'] / with_mc:.1f}x slower).")
    return lines

