"""Re-runs the saved walk-forward models on the windows they predicted in the backtest and
measures what they attend to, how stable their representations are and how far back their
predictions depend on the inputs.

Features are recomputed with the run's own strategy from the OHLCV files, put through each
model's saved feature pipeline and windowed exactly as in FreqAI's predict; the re-run forecasts
must equal the exported ones, otherwise the data, strategy or code differ from the run and that
model is not analysed.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import torch

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.validation import probe_metrics as pm
from freqai_seq.evaluation.validation.exports import ExportedRun, SubTrain
from freqai_seq.labels import return_labels
from freqai_seq.model.model_inputs import model_inputs
from freqai_seq.model.sequence_model import SequenceModel
from freqai_seq.model.windowing import gather_windows

logger = logging.getLogger(__name__)

RERUN_TOLERANCE = 1e-3  # largest re-run deviation accepted, in units of the label's std
DEPENDENCY_LAGS = (10, 20, 50)


class StrategyFeatures:
    """The strategy's FreqAI features for a pair over all its candles, as backtesting builds
    them (gaps filled the way freqtrade loads data)."""

    def __init__(self, config: dict[str, Any], datadir: Path) -> None:
        from freqtrade.resolvers import StrategyResolver

        self.config, self.datadir = config, datadir
        self.strategy = StrategyResolver.load_strategy(config)
        # What freqtrade's bot start sets before FreqAI first calls the strategy (without
        # building a FreqAI model): strategies read their horizon etc. from it.
        self.strategy.freqai_info = config["freqai"]
        self._candles: dict[tuple[str, str], pd.DataFrame] = {}

    def _load(self, pair: str, timeframe: str) -> pd.DataFrame:
        from freqtrade.data.history import load_pair_history

        key = (pair, timeframe)
        if key not in self._candles:
            frame = load_pair_history(pair=pair, timeframe=timeframe, datadir=self.datadir,
                                      fill_up_missing=True,
                                      data_format=self.config.get("dataformat_ohlcv", "feather"))
            if frame.empty:
                raise FreqaiSeqError(f"No {timeframe} candles for {pair} in {self.datadir}.")
            self._candles[key] = frame
        return self._candles[key]

    def for_pair(self, pair: str) -> pd.DataFrame:
        from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

        params = self.config["freqai"]["feature_parameters"]
        timeframes = params.get("include_timeframes", [self.config["timeframe"]])
        base = {tf: self._load(pair, tf) for tf in timeframes}
        corr = {p: {tf: self._load(p, tf) for tf in timeframes}
                for p in params.get("include_corr_pairlist", []) if p != pair}
        dk = FreqaiDataKitchen(self.config, live=True, pair=pair)
        frame = dk.use_strategy_to_populate_indicators(
            self.strategy, corr, base, pair, prediction_dataframe=base[self.config["timeframe"]])
        return frame.assign(date=pd.DatetimeIndex(frame["date"]).as_unit("ns"))


@dataclass
class ProbeResults:
    """Per-window figures of every analysed model, kept per pair; attention is reduced as it
    comes (entropy sums, mean matrix, the newest step's row) so memory stays small."""

    reps: list[np.ndarray] = field(default_factory=list)
    consecutive: list[np.ndarray] = field(default_factory=list)
    saliency: list[np.ndarray] = field(default_factory=list)
    attention_by_lag: list[np.ndarray] = field(default_factory=list)
    attention_entropy: list[tuple[float, int]] = field(default_factory=list)
    attention_matrix: list[tuple[np.ndarray, int]] = field(default_factory=list)
    deviations: list[float] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)

    def add_attention(self, weights: np.ndarray) -> None:
        entropy, _ = pm.attention_entropy(weights)
        rows = weights.shape[0] * weights.shape[1]
        self.attention_entropy.append((entropy, rows))
        self.attention_matrix.append((weights.mean(axis=(0, 1)), rows))
        self.attention_by_lag.append(pm.newest_step_attention(weights))

    def extend(self, other: ProbeResults) -> None:
        for name in ("reps", "consecutive", "saliency", "attention_by_lag",
                     "attention_entropy", "attention_matrix", "deviations"):
            getattr(self, name).extend(getattr(other, name))
        self.kinds |= other.kinds

    def summary(self) -> dict[str, Any]:
        if not self.reps:
            return {}
        profile = pm.dependency_by_lag(np.concatenate(self.saliency))
        out: dict[str, Any] = {
            "models": len(self.reps), "windows": int(sum(len(r) for r in self.reps)),
            "networks": sorted(self.kinds),
            "rerun_max_deviation_in_label_std": max(self.deviations),
            "representation_stability": float(np.nanmean(
                [pm.representation_stability(r, c) for r, c in zip(self.reps, self.consecutive,
                                                                   strict=True)])),
            "dependency_profile_by_lag": profile.tolist(),
            "dependency_share_beyond_lag": pm.dependency_beyond(profile, DEPENDENCY_LAGS),
        }
        if self.attention_by_lag:
            window = self.attention_by_lag[0].shape[-1]
            weights = np.array([n for _, n in self.attention_entropy], dtype=float)
            entropy = float(np.average([e for e, _ in self.attention_entropy], weights=weights))
            matrix = np.average(np.stack([m for m, _ in self.attention_matrix]), axis=0,
                                weights=weights)
            out["attention"] = {
                "entropy": entropy, "entropy_normalised": entropy / math.log(window),
                "max_entropy_log_window": math.log(window),
                "consistency": float(np.nanmean(
                    [pm.attention_consistency(b, c) for b, c in
                     zip(self.attention_by_lag, self.consecutive, strict=True)])),
                **pm.temporal_focus(np.concatenate(self.attention_by_lag)),
                "mean_matrix": matrix.tolist(),
            }
        return out


def _load_pickle(path: Path) -> Any:
    with path.open("rb") as fh:
        return cloudpickle.load(fh)


class NotSequenceModel(FreqaiSeqError):
    """A saved model that is not a freqai-seq sequence model: there is nothing to re-run."""


def load_sequence_model(model_file: Path) -> SequenceModel:
    """The saved model; NotSequenceModel for another kind, FreqaiSeqError for a damaged file."""
    if model_file.suffix != ".zip":
        raise NotSequenceModel(f"not a freqai-seq sequence model ({model_file.name})")
    try:
        model = SequenceModel.load(model_file)
    except Exception as exc:  # torch and unpickling raise many types for a damaged file
        raise FreqaiSeqError(f"the model file cannot be loaded ({type(exc).__name__})") from exc
    if not isinstance(model, SequenceModel):  # FreqAI's own PyTorch models save .zip too
        raise NotSequenceModel(f"not a freqai-seq sequence model ({type(model).__name__})")
    return model


def not_applicable(run: ExportedRun, model_class: str | None) -> str | None:
    """Why model analysis does not apply to the run at all, else None: every model of a run is
    of its one FreqAI model class, so the first saved model tells (FreqAI's own LightGBM and
    PyTorch models have no windows, attention or saved history to analyse)."""
    first = next((s.model_file for subs in run.sub_trains.values() for s in subs
                  if s.model_file is not None), None)
    if first is None:
        return None
    try:
        load_sequence_model(first)
    except NotSequenceModel:
        return f"{model_class or first.name} is not a freqai-seq sequence model"
    except FreqaiSeqError:
        pass  # a damaged file: the analysis reports it with the other models
    return None


def probe_sub_train(sub: SubTrain, exported: pd.DataFrame, features: pd.DataFrame,
                    results: ProbeResults) -> None:
    """Analyse one saved model on the rows it predicted; raises FreqaiSeqError with the reason
    when it cannot."""
    model_file = sub.model_file
    if model_file is None:
        raise FreqaiSeqError("no saved model (the backtest ran with save_backtest_models false, "
                             "or this training failed)")
    model = load_sequence_model(model_file)
    if getattr(getattr(model, "ensemble", None), "ensemble_dynamic_candles", 0):
        raise FreqaiSeqError("an ensemble with dynamic weights: its forecasts also depend on the "
                             "outcomes known when it predicted, which a re-run cannot replay")
    model.net.to("cpu").eval()
    pipeline = _load_pickle(sub.file("feature_pipeline.pkl"))
    labels = _load_pickle(sub.file("label_pipeline.pkl"))
    rows = features.set_index("date").reindex(pd.DatetimeIndex(exported["date"]).as_unit("ns"))
    if rows["close"].isna().any():
        raise FreqaiSeqError(f"{int(rows['close'].isna().sum())} predicted candles are missing "
                             "from the OHLCV data: the data does not match the export")
    raw_names = list(sub.metadata["training_features_list"])
    missing = sorted(set(raw_names) - set(rows.columns))
    if missing:
        raise FreqaiSeqError(f"the strategy does not produce the model's features {missing[:3]}"
                             "...: the strategy does not match the export")
    inputs = model_inputs(model, rows.rename_axis("date").reset_index(), raw_names, pipeline)
    model.device = torch.device("cpu")
    outputs, _, predicted = model.predict_rows(inputs.features, inputs.dates_ns, inputs.finite)
    label_list = list(sub.metadata["label_list"])
    rerun, _, _ = labels.inverse_transform(pd.DataFrame(outputs, columns=label_list))
    usable = exported["do_predict"].to_numpy() == 1
    own = slice(inputs.prepended, None)
    primary = next(iter(return_labels(label_list).values()), label_list[0])
    label_std = sub.metadata.get("labels_std", {}).get(primary)
    scale = float(label_std or np.nanstd(exported[primary].to_numpy()) or 1.0)
    gap = np.abs(rerun[primary].to_numpy()[own][usable] - exported[primary].to_numpy()[usable])
    # A usable exported row the re-run cannot predict is a mismatch too, not a row to skip.
    deviation = float(np.max(gap, initial=0.0)) / scale if not np.isnan(gap).any() else math.inf
    if deviation > RERUN_TOLERANCE:
        raise FreqaiSeqError(f"re-run forecasts differ from the export by {deviation:.3g} label "
                             "std: data, strategy, config or code differ from the run")
    ends = np.flatnonzero(predicted[own] & usable) + inputs.prepended
    if len(ends) == 0:
        raise FreqaiSeqError("no usable window among the predicted rows")
    x = torch.tensor(inputs.features)  # a copy: the pipeline output may be read-only
    windows = gather_windows(x, torch.as_tensor(ends), model.window).clone()
    with torch.no_grad():
        results.reps.append(model.net.represent(windows).numpy())
    if hasattr(model.net, "attention_weights"):
        results.add_attention(model.net.attention_weights(windows).numpy())
    windows.requires_grad_(True)
    model.net(windows)[:, label_list.index(primary)].sum().backward()
    results.saliency.append(windows.grad.abs().sum(dim=-1).numpy()[:, ::-1])  # lag order
    results.consecutive.append(np.diff(inputs.dates_ns[ends]) == model.timeframe_ns)
    results.deviations.append(deviation)
    # For an ensemble, representation, attention and saliency are those of its network.
    results.kinds.add(f"{model.kind}+lightgbm" if hasattr(model, "boosters") else model.kind)


def probe_run(run: ExportedRun, features: StrategyFeatures | None,
              problems: list[str]) -> dict[str, Any]:
    """Model analysis per pair and pooled; every model that could not be analysed is counted
    by reason and reported. Any error of the strategy or of a model file stops that part only."""
    pooled, per_pair, skipped = ProbeResults(), {}, Counter()
    for pair, subs in run.sub_trains.items():
        pair_results = ProbeResults()
        try:
            if features is None:
                raise FreqaiSeqError("no strategy to recompute the features (pass --config with "
                                     "a strategy, or --strategy)")
            frame = features.for_pair(pair)
        except Exception as err:  # the user's strategy can raise anything
            skipped[f"features of {pair}: {err}"] += len(subs)
            continue
        for sub in subs:
            exported = run.windows.get(pair, {}).get(sub.start_ts)
            try:
                if exported is None:
                    raise FreqaiSeqError("no prediction file for this model's window")
                probe_sub_train(sub, exported, frame, pair_results)
            except FreqaiSeqError as err:
                skipped[str(err)] += 1
            except Exception as err:  # a broken pipeline or model file
                skipped[f"{type(err).__name__}: {err}"] += 1
        per_pair[pair] = pair_results.summary()
        pooled.extend(pair_results)
    for reason, count in skipped.items():
        problems.append(f"model analysis: {count} model(s) not analysed: {reason}")
        logger.warning("Model analysis: %d model(s) not analysed: %s", count, reason)
    return {"pooled": pooled.summary(), "per_pair": per_pair,
            "skipped": dict(skipped), "tolerance_label_std": RERUN_TOLERANCE}
