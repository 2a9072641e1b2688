"""Long-only strategy logic shared by the strategy files in `strategies/`.

The model predicts the forward return over `label_period_candles`. A long entry needs a usable
prediction (`do_predict == 1`) above the training labels' mean by `entry_k` standard deviations;
the exit fires when the prediction falls below the mean by `exit_k` deviations. Thresholds are
relative to FreqAI's per-model label statistics (`&-*_mean`, `&-*_std`), so they adapt to each
retrained window and pair instead of being fixed return levels.

Hyperoptable parameters are read only in `populate_entry_trend` (buy space) and
`populate_exit_trend` (sell space): hyperopt runs `populate_indicators` (and with it FreqAI) once,
then only the two signal methods for each epoch, so a threshold computed in
`populate_indicators` would keep its default value in every epoch.
"""

from __future__ import annotations

import logging

from freqtrade.exchange import timeframe_to_minutes
from freqtrade.strategy import DecimalParameter, IStrategy
from pandas import DataFrame

from freqai_seq.labels import regime_labels, return_label, uncertainty_label, volatility_label
from freqai_seq.model.har import add_har_features
from freqai_seq.run_fingerprint import check_settings, guard_run, pools_pairs
from freqai_seq.strategy import features
from freqai_seq.strategy.targets import forward_regime, forward_return, forward_volatility

logger = logging.getLogger(__name__)


class SeqStrategyBase(IStrategy):
    """Subclass it in a file of `strategies/` (freqtrade only loads classes defined there)."""

    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = False
    process_only_new_candles = True
    use_exit_signal = True
    startup_candle_count = 40
    minimal_roi = {"0": 0.08, "720": 0.0}
    stoploss = -0.06

    entry_k = DecimalParameter(0.0, 1.5, default=0.25, decimals=2, space="buy", optimize=True)
    exit_k = DecimalParameter(-0.5, 1.5, default=0.0, decimals=2, space="sell", optimize=True)

    @property
    def horizon(self) -> int:
        return int(self.freqai_info["feature_parameters"]["label_period_candles"])

    @property
    def label(self) -> str:
        return return_label(self.horizon)

    @property
    def plot_config(self) -> dict:
        label = self.label
        return {
            "main_plot": {},
            "subplots": {
                "prediction": {
                    label: {"color": "#1f77b4"},
                    "entry_threshold": {"color": "#2ca02c"},
                    "exit_threshold": {"color": "#d62728"},
                },
                "do_predict": {"do_predict": {"color": "#7f7f7f", "type": "bar"}},
            },
        }

    def feature_engineering_expand_all(self, dataframe: DataFrame, period: int, metadata: dict,
                                       **kwargs) -> DataFrame:
        return features.expand_all(dataframe, period)

    def feature_engineering_expand_basic(self, dataframe: DataFrame, metadata: dict,
                                         **kwargs) -> DataFrame:
        return features.expand_basic(dataframe)

    def feature_engineering_standard(self, dataframe: DataFrame, metadata: dict,
                                     **kwargs) -> DataFrame:
        """Calendar features, plus the HAR features when the model starts its volatility
        outputs from HAR (`volatility_baseline: "har"`)."""
        dataframe = features.standard(dataframe)
        training = self.freqai_info.get("model_training_parameters") or {}
        if training.get("volatility_baseline") == "har":
            dataframe = add_har_features(dataframe, 1440 // timeframe_to_minutes(self.timeframe))
        return dataframe

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        dataframe[self.label] = forward_return(dataframe["close"], self.horizon)
        return dataframe

    def bot_start(self, **kwargs) -> None:
        """FreqAI's own models reuse another run's files too: the run fingerprint is checked
        here for them (the plugin's models check it themselves)."""
        if self.config.get("freqai", {}).get("enabled"):
            check_settings(self.config, pools_pairs(self.freqai))

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        guard_run(self.config, self, dataframe, metadata, pools_pairs(self.freqai))
        return self.freqai.start(dataframe, metadata, self)

    def set_entry_threshold(self, df: DataFrame) -> None:
        """`entry_threshold` = label mean + entry_k label std (buy space)."""
        df["entry_threshold"] = df[f"{self.label}_mean"] + self.entry_k.value * df[
            f"{self.label}_std"]

    def set_exit_threshold(self, df: DataFrame) -> None:
        """`exit_threshold` = label mean - exit_k label std (sell space)."""
        df["exit_threshold"] = df[f"{self.label}_mean"] - self.exit_k.value * df[
            f"{self.label}_std"]

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        self.set_entry_threshold(df)
        usable = (df["do_predict"] == 1) & (df["volume"] > 0)
        df.loc[usable & (df[self.label] > df["entry_threshold"]), ["enter_long", "enter_tag"]] = (
            1, "prediction_above_threshold")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        self.set_exit_threshold(df)
        usable = df["do_predict"] == 1
        df.loc[usable & (df[self.label] < df["exit_threshold"]), ["exit_long", "exit_tag"]] = (
            1, "prediction_below_threshold")
        return df


class MultiTaskStrategyBase(SeqStrategyBase):
    """Uses a multi-task model's extra outputs (see freqai_seq.model.tasks for the label encoding).

    Targets: returns at a short horizon and at `label_period_candles`, realized volatility and
    down/flat/up regime at the long horizon, and an uncertainty column for the long return.
    Enter when both horizons agree upwards (the long one above its adaptive threshold), the up
    regime is likely enough and the MC-dropout spread is small relative to the label spread
    (a spread of 0 means MC dropout is off and does not block). Exit when both horizons turn
    down or the down regime becomes likely.
    """

    short_horizon = 4
    regime_threshold = 0.01  # a move beyond +-1 % over the long horizon is a regime
    regime_entry = DecimalParameter(0.2, 0.8, default=0.4, decimals=2, space="buy",
                                    optimize=True)
    max_uncertainty_k = DecimalParameter(0.1, 2.0, default=1.0, decimals=2, space="buy",
                                         optimize=True)
    regime_exit = DecimalParameter(0.3, 0.9, default=0.5, decimals=2, space="sell",
                                   optimize=True)

    @property
    def short_label(self) -> str:
        return return_label(self.short_horizon)

    @property
    def plot_config(self) -> dict:
        label, short = self.label, self.short_label
        down, _, up = regime_labels(self.horizon)
        return {
            "main_plot": {},
            "subplots": {
                "returns": {label: {"color": "#1f77b4"}, short: {"color": "#9467bd"},
                            "entry_threshold": {"color": "#2ca02c"},
                            "exit_threshold": {"color": "#d62728"}},
                "regime": {up: {"color": "#2ca02c"}, down: {"color": "#d62728"}},
                "uncertainty": {uncertainty_label(label): {"color": "#ff7f0e"},
                                volatility_label(self.horizon): {"color": "#8c564b"}},
                "do_predict": {"do_predict": {"color": "#7f7f7f", "type": "bar"}},
            },
        }

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        close, horizon = dataframe["close"], self.horizon
        dataframe[self.short_label] = forward_return(close, self.short_horizon)
        dataframe[self.label] = forward_return(close, horizon)
        dataframe[volatility_label(horizon)] = forward_volatility(close, horizon)
        regimes = forward_regime(close, horizon, self.regime_threshold)
        for column, name in zip(regime_labels(horizon), regimes.columns, strict=True):
            dataframe[column] = regimes[name]
        dataframe[uncertainty_label(self.label)] = 0.0  # filled by the model, never trained
        return dataframe

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        self.set_entry_threshold(df)
        _, _, up = regime_labels(self.horizon)
        spread = df[uncertainty_label(self.label)]
        conditions = (
            (df["do_predict"] == 1) & (df["volume"] > 0)
            & (df[self.short_label] > 0) & (df[self.label] > df["entry_threshold"])
            & (df[up] > self.regime_entry.value)
            & (spread <= self.max_uncertainty_k.value * df[f"{self.label}_std"])
        )
        df.loc[conditions, ["enter_long", "enter_tag"]] = (1, "horizons_agree_regime_up")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        self.set_exit_threshold(df)
        down, _, _ = regime_labels(self.horizon)
        usable = df["do_predict"] == 1
        reversal = (df[self.short_label] < 0) & (df[self.label] < df["exit_threshold"])
        df.loc[usable & reversal, ["exit_long", "exit_tag"]] = (1, "horizons_reversed")
        df.loc[usable & ~reversal & (df[down] > self.regime_exit.value),
               ["exit_long", "exit_tag"]] = (1, "regime_down")
        return df
