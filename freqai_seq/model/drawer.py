"""FreqAI's data drawer made crash-safe for live trading.

FreqAI writes `pair_dictionary.json` (which model each pair uses) and its other state files by
truncating and rewriting them in place, so a kill during that write leaves a file that stops the
bot at its next start. And a model file that cannot be loaded (corrupt, or from an incompatible
version) raises on every candle while the drawer still calls the model fresh, so the pair never
trades again. This drawer writes atomically and, in live mode, turns an unloadable model into a
logged error plus a retrain. It also saves the models a cross-pair backtest trains ahead for
the pairs FreqAI has not reached yet.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd
import rapidjson
from freqtrade.freqai.data_drawer import METADATA, FreqaiDataDrawer
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from freqai_seq.atomic import atomic_writer
from freqai_seq.model.config_schema import SequenceConfig
from freqai_seq.model.cross_pair.store import SharedNetworks

logger = logging.getLogger(__name__)

STATE_FILES = ("pair_dictionary.json", "global_metadata.json", "metric_tracker.json")


def set_aside_unreadable_state(folder: Path) -> list[Path]:
    """Move FreqAI state files that are not valid JSON out of the way (kept as `*.unreadable`), so
    the drawer starts from scratch and retrains instead of failing at start-up."""
    moved = []
    for name in STATE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            target = path.with_name(f"{name}.unreadable")
            path.replace(target)
            moved.append(target)
            logger.error("FreqAI state file %s is unreadable (%s): kept as %s; starting without "
                         "it, so the pairs it listed are retrained.", path, exc, target.name)
    return moved


class CrashSafeDataDrawer(FreqaiDataDrawer):
    """FreqaiDataDrawer with atomic state writes and recovery from unloadable live models."""

    def _dump_json(self, path: Path, obj: Any) -> None:
        with self.save_lock, atomic_writer(path) as fh:
            fh.write(rapidjson.dumps(obj, default=self.np_encoder,
                                     number_mode=rapidjson.NM_NATIVE).encode())

    def save_drawer_to_disk(self) -> None:
        self._dump_json(self.pair_dictionary_path, self.pair_dict)

    def save_metric_tracker_to_disk(self) -> None:
        self._dump_json(self.metric_tracker_path, self.metric_tracker)

    def save_global_metadata_to_disk(self, metadata: dict[str, Any]) -> None:
        self._dump_json(self.global_metadata_path, metadata)

    def save_historic_predictions_to_disk(self) -> None:
        with atomic_writer(self.historic_predictions_path) as fh:
            cloudpickle.dump(self.historic_predictions, fh,
                             protocol=cloudpickle.DEFAULT_PROTOCOL)
        with atomic_writer(self.historic_predictions_bkp_path) as fh, \
                self.historic_predictions_path.open("rb") as src:
            shutil.copyfileobj(src, fh)

    def update_historic_data(self, strategy: Any, dk: FreqaiDataKitchen) -> None:
        """FreqAI appends the data provider's new candles (`date` in microseconds) to the history
        it loaded from disk (milliseconds); pandas 3 concatenates the two as an object column,
        and every later training of the pair then fails on `.dt` ("Can only use .dt accessor").
        The column is turned back into UTC datetimes."""
        super().update_historic_data(strategy, dk)
        with self.history_lock:
            for frames in self.historic_data.values():
                for tf, frame in frames.items():
                    if not pd.api.types.is_datetime64_any_dtype(frame["date"]):
                        frames[tf] = frame.assign(date=pd.to_datetime(frame["date"], utc=True))

    def append_model_predictions(self, pair: str, predictions: pd.DataFrame,
                                 do_preds: Any, dk: FreqaiDataKitchen,
                                 strat_df: pd.DataFrame) -> None:
        """FreqAI's append, then the pair's history capped to its newest rows
        (`historic_predictions_max_rows`): FreqAI keeps a row per candle forever, so a bot's
        memory and its `historic_predictions.pkl`, rewritten after every training, grow
        without bound. Never fewer rows than the strategy's frame (the rows FreqAI merges
        back) or `fit_live_predictions_candles` (the rows its live statistics read)."""
        super().append_model_predictions(pair, predictions, do_preds, dk, strat_df)
        cap = self.freqai_info.get("model_training_parameters", {}).get(
            "historic_predictions_max_rows", SequenceConfig.historic_predictions_max_rows)
        if not cap:
            return
        keep = max(cap, len(strat_df), self.freqai_info.get("fit_live_predictions_candles", 0))
        history = self.historic_predictions[pair]
        if len(history) > keep:
            self.historic_predictions[pair] = history.iloc[-keep:].reset_index(drop=True)

    def save_unreached_pair_model(self, model: Any, pair: str, dk: FreqaiDataKitchen) -> None:
        """Save a model a cross-pair backtest trained for a pair FreqAI has not reached yet
        (in FreqAI's own layout, so FreqAI loads it there instead of training)."""
        self.get_pair_dict_info(pair)  # FreqAI's entry for the pair
        self.save_data(model, pair, dk)
        # save_data also keeps the pair's newest model, metadata and pipelines in memory,
        # which FreqAI's backtest loads instead of the files of the window it is at: this
        # window's would then stand in for an earlier window's (look-ahead). From disk only.
        self.meta_data_dictionary.pop(pair, None)
        self.model_dictionary.pop(pair, None)

    def purge_old_models(self) -> None:
        """FreqAI's purge, plus the cross-pair networks beyond the same count per key."""
        super().purge_old_models()
        keep = self.freqai_info.get("purge_old_models", 0)
        if keep:
            SharedNetworks(Path(self.full_path)).purge(2 if isinstance(keep, bool) else keep)

    @staticmethod
    def _exact_metadata(dk: FreqaiDataKitchen) -> dict[str, Any]:
        """The metadata FreqAI just read, read again with exact floats: its native-number parse
        can be one ulp off (label means and standard deviations, hence the strategy's
        thresholds, would differ between a model kept in memory and the same model loaded)."""
        with (dk.data_path / f"{dk.model_filename}_{METADATA}.json").open("r") as fp:
            return rapidjson.load(fp, number_mode=rapidjson.NM_NAN)

    def load_data(self, coin: str, dk: FreqaiDataKitchen) -> Any:
        """In live mode a model that cannot be loaded is reported and retrained: the pair gets
        `do_predict = 0` until then. Backtests still fail loudly."""
        from_disk = coin not in self.meta_data_dictionary
        try:
            model = super().load_data(coin, dk)
            if model is not None and from_disk:
                dk.data = self._exact_metadata(dk)
            return model
        except Exception as exc:  # torch, pickle, zip, JSON and our format errors all land here
            if not dk.live:
                raise
            with self.pair_dict_lock:
                info = self.pair_dict.get(coin, {})
                logger.error(
                    "Cannot load the model of %s (%s in %s): %s: %s. It will be retrained; "
                    "until then the pair gets no predictions.", coin, info.get("model_filename"),
                    info.get("data_path"), type(exc).__name__, str(exc).rstrip("."))
                if coin in self.pair_dict:
                    self.pair_dict[coin]["trained_timestamp"] = 0
                    self.pair_dict[coin]["model_filename"] = ""
            self.model_dictionary.pop(coin, None)
            self.meta_data_dictionary.pop(coin, None)
            return None
