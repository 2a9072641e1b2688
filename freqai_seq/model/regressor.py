"""FreqAI model base for sequence networks: data preparation, windows, training, prediction.

Subclasses only name their network (`network = "lstm"`); see freqai_seq.freqaimodels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from time import time
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from freqtrade.freqai.freqai_interface import IFreqaiModel
from pandas import DataFrame, concat

from freqai_seq.compat import check_versions
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.labels import is_log_variance, label_horizon
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.model.cross_pair.hooks import CrossPairHooks
from freqai_seq.model.cross_pair.trainer import SharedNetworkTrainer
from freqai_seq.model.drawer import CrashSafeDataDrawer, set_aside_unreadable_state
from freqai_seq.model.ensemble.model import BaseOutputs
from freqai_seq.model.intervals import calibrate, finish_quantiles
from freqai_seq.model.live_training import ParallelLiveTraining
from freqai_seq.model.model_inputs import ModelInputs, dates_ns, model_inputs
from freqai_seq.model.networks import NETWORKS
from freqai_seq.model.networks.volatility_baseline import VolatilityBaseline
from freqai_seq.model.pair_rows import MIN_PIPELINE_ROWS, scaled_rows
from freqai_seq.model.seeding import resolve_device, seed_everything, training_threads
from freqai_seq.model.sequence_model import HistoryTail, SequenceModel, TrainingRecord
from freqai_seq.model.tasks import TaskLayout, parse_labels
from freqai_seq.model.tracking import log_training, mlflow_settings
from freqai_seq.model.training import TaskLoss, WindowedData, log_history, train_network
from freqai_seq.model.training_job import PreparedPair, TrainingJob
from freqai_seq.model.training_span import training_rows
from freqai_seq.model.volatility_forecast import apply_variance_calibration, calibrate_variance
from freqai_seq.model.window_coverage import CoveredWindows
from freqai_seq.model.windowing import window_ends
from freqai_seq.run_fingerprint import RunGuard

logger = logging.getLogger(__name__)

Model = TypeVar("Model", bound=SequenceModel)

# Options that drop or reorder training rows without saying which: windows need the real order.
ROW_BREAKING_OPTIONS = ("use_SVM_to_remove_outliers", "use_DBSCAN_to_remove_outliers",
                        "shuffle_after_split", "reverse_train_test_order")


def regime_classes(layout: TaskLayout, label_parts: list[DataFrame | None]) -> np.ndarray:
    """Class index (0 down, 1 flat, 2 up) per row and regime group, from unscaled labels."""
    labels = np.concatenate([p.to_numpy() for p in label_parts if p is not None])
    if not layout.regime_groups:
        return np.zeros((len(labels), 0), dtype=np.int64)
    return np.stack([labels[:, list(g)].argmax(axis=1) for g in layout.regime_groups],
                    axis=1).astype(np.int64)


def check_quantile_targets(layout: TaskLayout, label_parts: list[DataFrame | None],
                           pair: str) -> None:
    """The quantile labels of one target must hold that target in every column: they share
    one scaling then, so sorting them in scaled units sorts them in the target's units."""
    for group in layout.quantile_groups:
        for part in (p for p in label_parts if p is not None):
            values = part.iloc[:, list(group.idx)].to_numpy(np.float64)
            if not np.array_equal(values, values[:, :1].repeat(values.shape[1], axis=1),
                                  equal_nan=True):
                names = [part.columns[i] for i in group.idx]
                raise OperationalException(
                    f"{pair}: the quantile labels {names} must hold the same target in every "
                    "column (set each to the value being forecast).")


class SequenceRegressor(RunGuard, CoveredWindows, ParallelLiveTraining, CrossPairHooks,
                        IFreqaiModel):
    """Window-based regressor; one output per `&` label."""

    network: ClassVar[str] = "lstm"
    fills_agreement: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        try:  # loaded by plain freqtrade too: an unsupported version says so first
            check_versions()
        except FreqaiSeqError as err:
            raise OperationalException(str(err)) from err
        config = kwargs["config"]
        identifier = config.get("freqai", {}).get("identifier", "")
        set_aside_unreadable_state(Path(config["user_data_dir"]) / "models" / identifier)
        super().__init__(config=config)
        # FreqAI builds its drawer in __init__ with no hook to choose the class; the subclass
        # only overrides methods, so switching the instance's class is safe.
        self.dd.__class__ = CrashSafeDataDrawer
        self.dd.model_type = "pytorch"  # FreqAI then calls model.save() and our loader
        try:
            # null means "the default": how `--training-params` replaces the config's keys
            self.seq_cfg: SequenceConfig = self.parse_params(
                {k: v for k, v in self.model_training_parameters.items() if v is not None})
            self.device = resolve_device(self.seq_cfg.device)
            self.mlflow = mlflow_settings(self.freqai_info, Path(config["user_data_dir"]))
        except FreqaiSeqError as err:
            raise OperationalException(str(err)) from err
        feature_params = self.freqai_info.get("feature_parameters", {})
        enabled = [k for k in ROW_BREAKING_OPTIONS if feature_params.get(k)]
        if enabled:
            raise OperationalException(
                f"{type(self).__name__} needs contiguous candles in each window, but {enabled} "
                "removes or reorders training rows: disable it (DI_threshold and PCA are fine)."
            )
        if self.freqai_info.get("data_split_parameters", {}).get("shuffle", False):
            raise OperationalException(
                f"{type(self).__name__} needs a chronological validation split: set "
                "freqai.data_split_parameters.shuffle to false."
            )
        # Live mode hands predict() the last CONV_WIDTH rows: exactly one full window.
        self.CONV_WIDTH = self.seq_cfg.window
        self.timeframe_ns = timeframe_to_seconds(self.config["timeframe"]) * 1_000_000_000
        threads = training_threads(self.model_training_parameters, self.seq_cfg.num_threads)
        if threads:
            torch.set_num_threads(threads)

    def parse_params(self, params: dict[str, Any]) -> SequenceConfig:
        """`model_training_parameters` -> the network's validated config."""
        return NETWORKS[self.network].config_class.from_params(params)

    # ---------------------------------------------------------------- training
    def train(self, unfiltered_df: DataFrame, pair: str, dk: FreqaiDataKitchen,
              **kwargs: Any) -> SequenceModel:
        logger.info("-------------------- Starting training %s --------------------", pair)
        start_time = time()
        prepared = self.prepare(unfiltered_df, pair, dk)
        if self.seq_cfg.cross_pair:
            model = self.shared_network(prepared, dk).for_pair(pair, prepared.tail)
        else:
            shape = (prepared.data["train_features"].shape[1], len(prepared.row_dates))
            logger.info("Training model on %d features and %d rows", *shape)
            model = self.fit(TrainingJob(prepared))
        model = self.calibrate(model, prepared, dk)
        if not self.seq_cfg.cross_pair:
            model.training = TrainingRecord(*shape, time() - start_time)
        if self.mlflow is not None:
            log_training(self.mlflow, self, model, pair, dk, prepared.row_dates,
                         time() - start_time)
        logger.info("-------------------- Done training %s (%.2f secs) --------------------",
                    pair, time() - start_time)
        return model

    def prepare(self, unfiltered_df: DataFrame, pair: str,
                dk: FreqaiDataKitchen) -> PreparedPair:
        """One pair's training rows: FreqAI's split, its pipelines fitted on the train part
        (saved with the pair's model in FreqAI's layout), labels and regime classes."""
        window = self.seq_cfg.window
        unfiltered_df = training_rows(unfiltered_df, self.seq_cfg, pair)
        try:
            layout = parse_labels(list(dk.label_list))
        except FreqaiSeqError as err:
            raise OperationalException(f"{pair}: {err}") from err
        if layout.agreement_of and not self.fills_agreement:
            raise OperationalException(f"{pair}: `&-agree_*` labels are filled by "
                                       "LSTMLightGBMEnsembleRegressor only.")
        # Cross-pair, a pair with a short history (a new listing) joins with the rows it has:
        # its pipelines are fitted on them, and without a complete window it is not trained on
        # and predicts through the network's "unseen pair" slot.
        needed = MIN_PIPELINE_ROWS if self.seq_cfg.cross_pair else window + 1
        rows = scaled_rows(self, unfiltered_df, pair, dk, needed, f"window={window}")
        if self.seq_cfg.mc_dropout_passes and not layout.uncertainty_of:
            logger.warning("%s: mc_dropout_passes is %d but no `&-unc_*` label asks for a "
                           "spread: the passes are skipped", pair, self.seq_cfg.mc_dropout_passes)
        check_quantile_targets(layout, rows.raw_labels, pair)
        dd = rows.data
        removed = len(rows.raw_labels[0]) - len(dd["train_features"])
        if removed:
            raise OperationalException(
                f"{pair}: the feature pipeline removed {removed} training rows; sequence "
                "windows need contiguous rows.")
        tail_rows = unfiltered_df.tail(window - 1)
        tail = HistoryTail(dates_ns(tail_rows["date"]),
                           tail_rows[dk.training_features_list].reset_index(drop=True))
        return PreparedPair(pair, dd, rows.row_dates, tail, layout,
                            regime_classes(layout, rows.raw_labels), rows.has_test,
                            list(dk.training_features_list), list(dk.label_list),
                            rows.raw_labels[1])

    def calibrate(self, model: SequenceModel, prepared: PreparedPair,
                  dk: FreqaiDataKitchen) -> SequenceModel:
        """The conformal correction of each quantile interval (freqai_seq.model.intervals) and the
        offset of each log-variance forecast (freqai_seq.model.volatility_forecast), from the pair's
        own FreqAI test rows after an embargo of h candles; no-op without either."""
        layout, labels = prepared.layout, prepared.labels
        if layout is None or not (any(g.intervals() for g in layout.quantile_groups)
                                  or any(is_log_variance(label) for label in labels)):
            return model
        n_train = len(prepared.data["train_features"])
        # every label the network fitted looks this far into the test rows (a quantile of a
        # target without a horizon in its name: FreqAI's label_period_candles)
        period = int(self.freqai_info.get("feature_parameters", {})
                     .get("label_period_candles", 0))
        embargo = max(label_horizon(label) or period for label in labels)
        predicted = DataFrame(np.nan, index=range(0), columns=labels)
        if prepared.has_test:
            scaled = concat([prepared.data["train_features"], prepared.data["test_features"]])
            # only the windows that end on a calibration row (the rest would be predicted for
            # nothing): their rows start window - 1 candles before the first of them
            needed = np.arange(len(scaled)) >= n_train + embargo - model.window + 1
            outputs, _, done = model.predict_rows(model.input_matrix(scaled), prepared.row_dates,
                                                  needed)
            rows = np.arange(n_train + embargo, len(scaled))
            rows = rows[done[rows]]
            predicted = self.to_label_units(outputs[rows], layout, dk)
            truth = prepared.raw_test_labels.iloc[rows - n_train]
        if len(predicted) == 0:
            logger.warning("%s: no test rows after the %d-candle embargo to calibrate the "
                           "quantile intervals and log-variance forecasts on (raise "
                           "data_split_parameters.test_size): they stay uncalibrated",
                           prepared.pair, embargo)
            truth = predicted
        truth = truth.reset_index(drop=True)
        model.calibration = calibrate(predicted, truth, layout, labels)
        model.variance_calibration = calibrate_variance(predicted, truth, labels)
        if len(predicted):
            logger.info("%s: calibration on %d test rows: %s", prepared.pair, len(predicted),
                        ", ".join([*(f"{c.coverage:.0%} {c.correction:+.5f}"
                                     for c in model.calibration),
                                   *(f"{c.label} {c.offset:+.4f}"
                                     for c in model.variance_calibration)]))
        return model

    def shared_network(self, prepared: PreparedPair, dk: FreqaiDataKitchen) -> SequenceModel:
        """The window's cross-pair network: trained by the first pair that needs it, reused
        by the others (see freqai_seq.model.cross_pair)."""
        context = self.cross_pair_context(prepared.pair, {
            "format": [SequenceModel.format, SequenceModel.format_version],
            "network": self.network, "config": self.seq_cfg.to_dict()})
        drawer = self.dd if not self.live and self.save_backtest_models else None
        return SharedNetworkTrainer(context, prepared, dk, self, self.seq_cfg.window,
                                    self.timeframe_ns, self.device, drawer).network()

    def fit(self, job: TrainingJob) -> SequenceModel:  # type: ignore[override]
        """FreqAI's `fit`, called by this class's own `train` only: one job, typed."""
        generator = seed_everything(self.seq_cfg.seed, self.seq_cfg.deterministic)
        data = self.windowed_data(job)
        if len(data.val_ends) == 0:
            logger.warning("%s: no validation windows (test_size 0 or too small): training "
                           "%d epochs without early stopping", job.pair, self.seq_cfg.epochs)
        model = self.new_model(SequenceModel, job)
        self.train_net(model, data, data.train_ends, data.val_ends, job, generator)
        return model

    def windowed_data(self, job: TrainingJob) -> WindowedData:
        """Train and test rows end to end on the device, and the window ends of each part."""
        if job.pooled is not None:  # cross-pair: every pair's rows, already windowed
            return job.pooled.data
        window, prepared = self.seq_cfg.window, job.prepared
        data_dictionary = prepared.data
        parts = ["train", "test"] if prepared.has_test else ["train"]
        features = np.concatenate([data_dictionary[f"{p}_features"].to_numpy(np.float32)
                                   for p in parts])
        targets = np.concatenate([data_dictionary[f"{p}_labels"].to_numpy(np.float32)
                                  for p in parts])
        weights = np.concatenate([np.asarray(data_dictionary[f"{p}_weights"], np.float32)
                                  for p in parts])
        n_train = prepared.train_rows
        ends = window_ends(prepared.row_dates, np.ones(len(features), bool), window,
                           self.timeframe_ns)
        train_ends, val_ends = ends[ends < n_train], ends[ends >= n_train]
        if len(train_ends) == 0:
            raise OperationalException(
                f"{job.pair}: no complete window of {window} consecutive candles in the "
                "training data: shorten the window or lengthen train_period_days."
            )
        return WindowedData(torch.as_tensor(features, device=self.device), targets, weights,
                            torch.as_tensor(prepared.classes, device=self.device), train_ends,
                            val_ends, prepared.row_dates, np.zeros(1, np.int64),
                            np.array([n_train], np.int64))

    def new_model(self, model_class: type[Model], job: TrainingJob) -> Model:
        """An untrained model, holding the previous model's weights when FreqAI asks for
        continual learning and the features are the same."""
        model = model_class(self.network, self.seq_cfg, job.feature_names,
                            list(job.prepared.labels), self.timeframe_ns, job.tail,
                            device=self.device,
                            cross=job.pooled.cross if job.pooled is not None else None)
        init = self.get_init_model(job.pair)
        same_pairs = (getattr(init, "cross", None) and init.cross.pairs) == (
            model.cross and model.cross.pairs)
        if isinstance(init, SequenceModel) and init.feature_names == model.feature_names \
                and same_pairs:
            model.net.load_state_dict(init.net.state_dict())
            logger.info("%s: continual learning from the previous model's weights", job.pair)
        return model

    def train_net(self, model: SequenceModel, data: WindowedData, train_ends: np.ndarray,
                  val_ends: np.ndarray, job: TrainingJob, generator: torch.Generator) -> None:
        """Train `model`'s network on the windows ending at `train_ends`, validated on those
        ending at `val_ends`; `generator` is the one the training was seeded with."""
        pair = job.pair
        loss_fn = TaskLoss(job.layout, len(job.prepared.labels), self.seq_cfg, self.device)
        if isinstance(model.net, VolatilityBaseline):
            head = model.net
            newest = data.features[torch.as_tensor(train_ends)][:, head.feature_idx]
            targets = data.targets[train_ends][:, head.target_idx.cpu().numpy()]
            rows = head.fit(newest.cpu().numpy(), targets)
            logger.info("%s: HAR volatility baseline fitted on %d training rows", pair, rows)
        train = data.subset(train_ends, self.device)
        val = data.subset(val_ends, self.device) if len(val_ends) else None
        tb_logger = getattr(self, "tb_logger", None)  # FreqAI sets it before each training
        pool = self.live_pool
        if pool is None or not pool.in_training_thread:
            model.train_result = train_network(model.net, train, val, self.seq_cfg, self.device,
                                               generator, loss_fn, tb_logger, f"{pair} ")
            return
        model.train_result = pool.train(model.net, train, val, self.seq_cfg, self.device,
                                        generator, loss_fn, f"{pair} ")
        # Another pair's training thread ran while this network trained in a worker, and
        # FreqAI set its own logger there: FreqAI closes this training's after `train`.
        self.tb_logger = tb_logger
        log_history(model.train_result, tb_logger, f"{pair} ")

    # ---------------------------------------------------------------- prediction
    def predict(self, unfiltered_df: DataFrame, dk: FreqaiDataKitchen,
                **kwargs: Any) -> tuple[DataFrame, npt.NDArray[np.int_]]:
        pred_df, do_predict, _ = self.predict_with_bases(unfiltered_df, dk)
        return pred_df, do_predict

    def predict_with_bases(self, unfiltered_df: DataFrame, dk: FreqaiDataKitchen
                           ) -> tuple[DataFrame, npt.NDArray[np.int_], BaseOutputs | None]:
        """FreqAI's prediction and `do_predict`, and each base model's own outputs on every
        input row (the prepended training tail included) where the model has bases."""
        model: SequenceModel = self.model
        dk.find_features(unfiltered_df)
        with_di = bool(self.freqai_info.get("feature_parameters", {}).get("DI_threshold", 0))
        inputs = model_inputs(model, unfiltered_df, dk.training_features_list,
                              dk.feature_pipeline, with_di)
        layout = parse_labels(list(dk.label_list))
        passes = self.seq_cfg.mc_dropout_passes if layout.uncertainty_of else 0
        outputs, samples, predicted, bases = self.model_outputs(model, inputs, passes)
        pred_df = finish_quantiles(self.to_label_units(outputs, layout, dk), layout,
                                   list(dk.label_list), model.calibration)
        pred_df = apply_variance_calibration(pred_df, model.variance_calibration)
        spread = None
        if samples is not None:
            spread = np.std([self.to_label_units(s, layout, dk).to_numpy() for s in samples],
                            axis=0)
        for unc, source in layout.uncertainty_of.items():
            column = spread[:, source] if spread is not None else np.zeros(len(pred_df))
            pred_df[dk.label_list[unc]] = np.where(predicted, column, np.nan)
        usable = predicted & inputs.finite & inputs.inlier
        usable &= self.fill_agreement(pred_df, layout, dk, predicted, bases)
        do_predict = usable.astype(np.int_)
        prepended = inputs.prepended
        di_values = inputs.di_values if inputs.di_values is not None else np.zeros(len(outputs))
        dk.DI_values = di_values[prepended:]
        dk.do_predict = do_predict[prepended:]
        pred_df = pred_df.iloc[prepended:].reset_index(drop=True)
        return pred_df, dk.do_predict, bases

    def model_outputs(self, model: SequenceModel, inputs: ModelInputs, passes: int
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, BaseOutputs | None]:
        """The model's outputs, MC-dropout samples and predicted rows; no bases here."""
        return (*model.predict_rows(inputs.features, inputs.dates_ns, inputs.finite, passes),
                None)

    def fill_agreement(self, pred_df: DataFrame, layout: TaskLayout, dk: FreqaiDataKitchen,
                       predicted: np.ndarray, bases: BaseOutputs | None) -> np.ndarray:
        """Fill `&-agree_*` columns (only an ensemble has bases to agree); returns the rows
        whose prediction stays usable."""
        return np.ones(len(pred_df), dtype=bool)

    @staticmethod
    def to_label_units(outputs: np.ndarray, layout: TaskLayout,
                        dk: FreqaiDataKitchen) -> DataFrame:
        """Regression outputs through the inverse label scaling; regime logits as softmax
        probabilities (in label units already, so the scaler is bypassed for them)."""
        frame, _, _ = dk.label_pipeline.inverse_transform(
            DataFrame(outputs, columns=dk.label_list))
        for group in layout.regime_groups:
            logits = outputs[:, list(group)]
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # NaN rows stay NaN
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
            for column, index in enumerate(group):
                frame[dk.label_list[index]] = probabilities[:, column]
        return frame
