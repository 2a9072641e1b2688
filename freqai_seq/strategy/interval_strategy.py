"""A strategy that acts on calibrated intervals and forecast volatility.

Targets: the `label_period_candles` return, its 5th, 10th, 90th and 95th percentiles (the 80 %
and 90 % intervals, conformally calibrated by the model: freqai_seq.model.intervals) and its
realized volatility. It enters only when the lower end of the 80 % interval clears the round-trip
fee by `entry_margin`, i.e. when the model is fairly sure the move pays for the trade, and exits
when the forecast falls below its adaptive threshold (as `SeqStrategyBase`) or the upper end of the
interval drops below 0. Each stake is sized for a target volatility: the proposed stake times
`target_volatility` / the forecast h-candle volatility, capped at `max_stake_multiple` times the
proposed stake (`size_by_volatility = False` keeps freqtrade's stake: the fixed-stake control).
The volatility label is `&-vol_<h>`, or `&-logvar_<h>` (the log-variance loss) with
`freqai.feature_parameters.volatility_label: "logvar"` (freqai_seq.model.volatility_forecast).
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from freqtrade.exceptions import OperationalException
from freqtrade.strategy import DecimalParameter
from pandas import DataFrame

from freqai_seq.labels import log_variance_label, quantile_label, volatility_label
from freqai_seq.model.volatility_forecast import forecast_variance
from freqai_seq.strategy.base import SeqStrategyBase
from freqai_seq.strategy.targets import forward_log_variance, forward_return, forward_volatility

LEVELS = (5, 10, 90, 95)
# freqai.feature_parameters.volatility_label: its label name and target
VOLATILITY_LABELS = {"vol": (volatility_label, forward_volatility),
                     "logvar": (log_variance_label, forward_log_variance)}
DEFAULT_FEE = 0.001  # freqtrade's usual spot taker fee, when neither config nor market says


class IntervalStrategyBase(SeqStrategyBase):
    size_by_volatility = True
    # entries come from the interval, not from the threshold: kept out of hyperopt's buy space
    entry_k = DecimalParameter(0.0, 1.5, default=0.25, decimals=2, space="buy", optimize=False)
    entry_margin = DecimalParameter(0.0, 0.02, default=0.0, decimals=3, space="buy",
                                    optimize=True)
    target_volatility = DecimalParameter(0.01, 0.08, default=0.03, decimals=3, space="buy",
                                         optimize=True)
    max_stake_multiple = 1.0

    @property
    def lower(self) -> str:
        return quantile_label(10, self.label)

    @property
    def upper(self) -> str:
        return quantile_label(90, self.label)

    @property
    def volatility_label(self) -> str:
        kind = self.freqai_info["feature_parameters"].get("volatility_label", "vol")
        if kind not in VOLATILITY_LABELS:
            raise OperationalException(
                f"freqai.feature_parameters.volatility_label must be one of "
                f"{sorted(VOLATILITY_LABELS)}, got {kind!r}.")
        return VOLATILITY_LABELS[kind][0](self.horizon)

    @property
    def plot_config(self) -> dict:
        config = super().plot_config
        config["subplots"]["prediction"].update({
            self.lower: {"color": "#aec7e8", "fill_to": self.upper, "fill_label": "80 % interval",
                         "fill_color": "rgba(31,119,180,0.15)"},
            self.upper: {"color": "#aec7e8"},
            "fee_hurdle": {"color": "#ff7f0e"}})
        config["subplots"]["volatility"] = {self.volatility_label: {"color": "#8c564b"}}
        return config

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        close, horizon = dataframe["close"], self.horizon
        future = forward_return(close, horizon)
        dataframe[self.label] = future
        for level in LEVELS:  # each quantile label holds the target it is a quantile of
            dataframe[quantile_label(level, self.label)] = future
        kind = self.freqai_info["feature_parameters"].get("volatility_label", "vol")
        dataframe[self.volatility_label] = VOLATILITY_LABELS[kind][1](close, horizon)
        return dataframe

    def round_trip_fee(self, pair: str) -> float:
        """Entry plus exit fee: the config's `fee`, else the market's taker fee, else 0.1 %."""
        fee = self.config.get("fee")
        if fee is None:
            market = self.dp.market(pair) if self.dp else None
            fee = (market or {}).get("taker") or DEFAULT_FEE
        return 2 * float(fee)

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        df["fee_hurdle"] = self.round_trip_fee(metadata["pair"]) + self.entry_margin.value
        usable = (df["do_predict"] == 1) & (df["volume"] > 0)
        df.loc[usable & (df[self.lower] > df["fee_hurdle"]), ["enter_long", "enter_tag"]] = (
            1, "interval_clears_fee")
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        df = super().populate_exit_trend(df, metadata)
        usable = df["do_predict"] == 1
        df.loc[usable & (df[self.upper] < 0) & (df["exit_long"] != 1),
               ["exit_long", "exit_tag"]] = (1, "interval_below_zero")
        return df

    def stake_multiple(self, forecast_variance: float) -> float:
        """target / forecast h-candle volatility, capped; 1 when volatility is unknown."""
        h_candle = math.sqrt(forecast_variance * self.horizon) if forecast_variance > 0 else 0.0
        if not self.size_by_volatility or not h_candle > 0:
            return 1.0
        return min(self.max_stake_multiple, self.target_volatility.value / h_candle)

    def custom_stake_amount(self, pair: str, current_time: datetime, current_rate: float,
                            proposed_stake: float, min_stake: float | None, max_stake: float,
                            leverage: float, entry_tag: str | None, side: str,
                            **kwargs) -> float:
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        column = self.volatility_label
        forecast = float(df[column].iloc[-1]) if len(df) and column in df else math.nan
        stake = proposed_stake * self.stake_multiple(
            float(forecast_variance(column, np.array([forecast]))[0]))
        return min(max_stake, max(stake, min_stake or 0.0))
