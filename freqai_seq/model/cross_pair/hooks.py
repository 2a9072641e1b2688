"""What cross-pair training needs from FreqAI that FreqAI does not hand to `train()`: the
strategy (to build the other pairs' rows) and, in live mode, the window's time ranges. FreqAI
calls `start` and `extract_data_and_train_model` before `train`, so they are kept as attributes
there; `cross_pair_context` turns them, with the model's settings, into the one typed value the
cross-pair trainer reads."""

from __future__ import annotations

from typing import Any

from freqtrade.configuration import TimeRange
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.model.config_schema import pair_list
from freqai_seq.model.cross_pair.frames import BacktestFrames, LiveFrames, PairFrames
from freqai_seq.model.cross_pair.trainer import CrossPairContext


class CrossPairHooks:
    """Mixed into a FreqAI model class before IFreqaiModel."""

    populated_frames: dict[str, DataFrame]  # backtest: each pair's features, once per run
    strategy: Any  # the strategy FreqAI runs (from `start`)
    training_timerange: TimeRange  # the window's buffered training range
    data_load_timerange: TimeRange  # live: the range FreqAI loaded the candles of

    def start(self, dataframe: DataFrame, metadata: dict, strategy: Any) -> DataFrame:
        self.strategy = strategy
        if not hasattr(self, "populated_frames"):
            self.populated_frames = {}
        return super().start(dataframe, metadata, strategy)  # type: ignore[misc]

    def extract_data_and_train_model(self, new_trained_timerange: TimeRange, pair: str,
                                     strategy: Any, dk: FreqaiDataKitchen,
                                     data_load_timerange: TimeRange) -> None:
        # Live: what a backtest sets in start_backtesting (FreqAI buffers the object in place).
        self.training_timerange = new_trained_timerange
        self.data_load_timerange = data_load_timerange
        super().extract_data_and_train_model(  # type: ignore[misc]
            new_trained_timerange, pair, strategy, dk, data_load_timerange)

    def cross_pair_context(self, pair: str, model_parts: dict[str, Any]) -> CrossPairContext:
        """The window `pair` is trained in, for the cross-pair trainer; `model_parts`: what of
        the model's own code and settings decides the pooled model."""
        model: Any = self  # the IFreqaiModel this is mixed into
        freqai = model.freqai_info
        feature_parameters = freqai.get("feature_parameters", {})
        timeframe = model.config["timeframe"]
        frames: PairFrames = (LiveFrames(self.strategy, model.dd, self.data_load_timerange)
                              if model.live else
                              BacktestFrames(self.strategy, self.populated_frames))
        candle = timeframe_to_seconds(timeframe)
        reuse = max(candle, int(freqai.get("live_retrain_hours", 0) * 3600)) if model.live \
            else candle
        return CrossPairContext(
            config=model.config, live=model.live, timerange=self.training_timerange,
            pairs=self._cross_pairs(pair),
            corr_pairs=tuple(feature_parameters.get("include_corr_pairlist", [])),
            frames=frames,
            key_parts={**model_parts, "model": type(self).__name__,
                       "training": model.model_training_parameters, "timeframe": timeframe,
                       "train_period_days": freqai.get("train_period_days"),
                       "feature_parameters": feature_parameters,
                       "data_split_parameters": freqai.get("data_split_parameters", {})},
            reuse_seconds=reuse)

    def _cross_pairs(self, pair: str) -> tuple[str, ...]:
        """`cross_pair_pairs` when set (a pair outside it is not trained on: it predicts
        through the "unseen pair" slot), else the current whitelist."""
        model: Any = self
        try:
            listed = pair_list(model.model_training_parameters.get("cross_pair_pairs"))
        except FreqaiSeqError as err:
            raise OperationalException(str(err)) from err
        if listed:
            return tuple(sorted(listed))
        dp = getattr(model, "data_provider", None)
        whitelist = dp.current_whitelist() if dp is not None else \
            model.config["exchange"]["pair_whitelist"]
        return tuple(sorted({*whitelist, pair}))
