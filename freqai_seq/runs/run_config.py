"""What a run hands freqtrade, checked before freqtrade starts, and the record it leaves.

freqtrade gets the user's `-c` files unchanged plus an overlay of our own (market URLs,
identifier, training parameters, pairs) that holds no secret. Everything a command can check
before freqtrade starts is checked here with freqtrade's own parser and validators, so bad input
exits 2 with one sentence instead of a freqtrade run that fails (or, for a configuration error,
exits 0). The run's record (`user_data/runs/<identifier>.json`, read by `validate`, `plot` and
`bench`) is the merged config through freqtrade's sanitizing plus a sweep for any other
credential, and it replaces an earlier record only once the new run has started.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqai_seq import paths
from freqai_seq.data.coverage import check_timerange_covered
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.json_files import read_json_object
from freqai_seq.processes import wrote_and_gone
from freqai_seq.redaction import REDACTED, SECRET_KEY, masked
from freqai_seq.runs.class_names import check_class_names

logger = logging.getLogger(__name__)

# What a worker's config holds in place of each credential: a backtest uses none, but freqtrade's
# schema still checks them (api_server.jwt_secret_key: at least 32 characters).
WORKER_PLACEHOLDER = "placeholder-not-a-secret-freqai-seq-worker"


@dataclass(frozen=True)
class RunInputs:
    """A run's inputs, checked: the user's config files (handed to freqtrade unchanged), our
    overlay without the market's URLs, and the merged config freqtrade will see."""

    configs: tuple[Path, ...]
    overlay: dict[str, Any]
    merged: dict[str, Any]

    @property
    def pairs(self) -> list[str]:
        return list(self.merged["exchange"]["pair_whitelist"])

    @property
    def corr_pairs(self) -> list[str]:
        return list(self.merged.get("freqai", {}).get("feature_parameters", {})
                    .get("include_corr_pairlist", []))

    @property
    def timeframes(self) -> list[str]:
        timeframe = self.merged.get("timeframe")
        included = (self.merged.get("freqai", {}).get("feature_parameters", {})
                    .get("include_timeframes", []))
        return sorted({*([timeframe] if timeframe else []), *included})


def slug(text: str) -> str:
    """A FreqAI identifier made of `text`: lower case, every other run of characters a `-`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower())


def freqai_identifier(*parts: str) -> str:
    """The FreqAI identifier of a run named by `parts` (`model, strategy`, or a prefix such as
    `hyperopt` first): their slug joined by `-`, so that one model's predictions are never
    reused for another's. The one rule every command's default identifier follows."""
    return slug("-".join(parts))


def load_user_configs(configs: list[Path] | tuple[Path, ...] | None) -> tuple[
        tuple[Path, ...], dict[str, Any]]:
    """The user's config files and their merge, as freqtrade loads them; a missing or broken
    file is a FreqaiSeqError naming it."""
    from freqtrade.configuration.load_config import load_config_file, load_from_files
    from freqtrade.exceptions import FreqtradeException

    files = tuple(configs or [paths.CONFIG])
    for config in files:
        if not config.is_file():
            raise FreqaiSeqError(f"Config file {config} not found (relative paths start in "
                                 f"{Path.cwd()}; pass -c).")
        try:
            with _quiet_freqtrade():
                load_config_file(str(config))
        except FreqtradeException as exc:
            first = str(exc).strip().splitlines()[0]
            raise FreqaiSeqError(f"Config file {config} is not valid JSON: {first}") from exc
    try:
        with _quiet_freqtrade():
            merged = load_from_files([str(c) for c in files])
    except FreqtradeException as exc:  # e.g. a file named by add_config_files
        raise FreqaiSeqError(f"Cannot load the config {' + '.join(map(str, files))}: "
                             f"{str(exc).strip().splitlines()[0]}") from exc
    merged.pop("config_files", None)
    return files, merged


def load_freqtrade_config(configs: list[Path] | tuple[Path, ...] | None,
                          userdir: Path | None = None) -> dict[str, Any]:
    """The config as a freqtrade command builds it in process (its defaults, the user-data
    folder, run mode OTHER), after the file checks of `load_user_configs`."""
    from freqtrade.configuration import Configuration
    from freqtrade.enums import RunMode

    files, _ = load_user_configs(configs)
    args: dict[str, Any] = {"config": [str(c) for c in files]}
    if userdir is not None:
        args["user_data_dir"] = str(userdir)
    return Configuration(args, RunMode.OTHER).get_config()


@dataclass(frozen=True)
class RunSpec:
    """What the command line says about a run, beyond the user's config files."""

    strategy: str
    model: str
    timerange: str
    identifier: str
    training_params: Path | None = None
    pairs: tuple[str, ...] = ()  # replaces the config's pair_whitelist when given
    userdir: Path = paths.USER_DATA  # where freqtrade looks for strategies and models
    extra: tuple[str, ...] = ()  # freqtrade's arguments after `--`
    settings: dict[str, Any] = field(default_factory=dict)  # top-level keys the run sets


def run_overlay(merged: dict[str, Any], spec: RunSpec) -> dict[str, Any]:
    """Our part of the run's config, merged over the user's files by freqtrade itself. Strategy,
    model and timerange are in it too, so the config freqtrade stores with a backtest's result
    (and our record) says which run it was (`plot` finds a backtest by them)."""
    freqai: dict[str, Any] = {"identifier": spec.identifier}
    overlay: dict[str, Any] = {**spec.settings, "freqai": freqai, "strategy": spec.strategy,
                               "freqaimodel": spec.model, "timerange": spec.timerange}
    if spec.training_params is not None:
        freqai["model_training_parameters"] = replacing_training_params(merged,
                                                                        spec.training_params)
    if spec.pairs:
        overlay["exchange"] = {"pair_whitelist": list(spec.pairs)}
    return overlay


def replacing_training_params(merged: dict[str, Any], path: Path) -> dict[str, Any]:
    """The overlay's `model_training_parameters` for a `--training-params` file. freqtrade
    merges config dicts key by key; the file replaces the config's keys, so the keys it does not
    set are nulled, which the models read as "use the default"."""
    params = read_json_object(path, "--training-params")
    inherited = merged.get("freqai", {}).get("model_training_parameters") or {}
    return {**dict.fromkeys(inherited), **params}


RUNMODES = {"backtesting": "backtest", "hyperopt": "hyperopt", "lookahead-analysis": "backtest",
            "plot-dataframe": "plot", "plot-profit": "plot"}


def check_run_inputs(configs: list[Path] | None, spec: RunSpec, subcommand: str,
                     datadir: Path) -> RunInputs:
    """Load and check everything freqtrade would reject, before it starts."""
    from freqtrade.configuration.timerange import TimeRange
    from freqtrade.exceptions import FreqtradeException
    from freqtrade.misc import deep_merge_dicts

    try:
        TimeRange.parse_timerange(spec.timerange)
    except FreqtradeException as exc:
        raise FreqaiSeqError(f"--timerange {spec.timerange!r}: {exc} (expected "
                             "YYYYMMDD-YYYYMMDD, start before stop).") from exc
    files, user = load_user_configs(configs)
    overlay = run_overlay(user, spec)
    merged = deep_merge_dicts(copy.deepcopy(overlay), copy.deepcopy(user))
    check_class_names(spec.model, spec.strategy, spec.userdir, merged, list(spec.extra))
    _check_schema(merged, RUNMODES.get(subcommand, "other"))
    _check_freqai(merged)
    inputs = RunInputs(files, overlay, merged)
    traded = _check_pairs(inputs, datadir)
    check_timerange_covered(datadir, traded, merged.get("timeframe"), spec.timerange,
                            merged["freqai"], merged.get("dataformat_ohlcv", "feather"))
    if subcommand == "lookahead-analysis":
        inputs = _pin_cross_pairs(inputs, traded)
    return inputs


def _pin_cross_pairs(inputs: RunInputs, traded: list[str]) -> RunInputs:
    """lookahead-analysis runs its cut backtests with only the analysed trade's pair in the
    whitelist: a cross-pair network trained there on that one pair would differ from the full
    run's without any look-ahead. `cross_pair_pairs` keeps it on the run's pairs (their candles,
    cut like the traded pair's, come from freqtrade's data provider)."""
    params = inputs.merged.get("freqai", {}).get("model_training_parameters") or {}
    if not params.get("cross_pair") or params.get("cross_pair_pairs"):
        return inputs
    logger.info("cross-pair: every cut backtest trains the shared network on %s "
                "(cross_pair_pairs)", ", ".join(traded))
    pin = {"cross_pair_pairs": traded}
    overlay = copy.deepcopy(inputs.overlay)
    freqai = overlay.setdefault("freqai", {})
    freqai["model_training_parameters"] = {**(freqai.get("model_training_parameters") or {}),
                                           **pin}
    merged = copy.deepcopy(inputs.merged)
    merged["freqai"]["model_training_parameters"] = {**params, **pin}
    return RunInputs(inputs.configs, overlay, merged)


def _check_schema(merged: dict[str, Any], runmode: str) -> None:
    """freqtrade's schema and consistency checks, as it runs them before loading a strategy."""
    from freqtrade.config_schema.config_schema import CONF_SCHEMA
    from freqtrade.configuration.config_validation import (
        FreqtradeValidator,
        validate_config_consistency,
    )
    from freqtrade.enums import RunMode
    from freqtrade.exceptions import FreqtradeException
    from jsonschema.exceptions import best_match

    conf = copy.deepcopy(merged)
    conf["runmode"] = RunMode(runmode)
    try:
        with _quiet_freqtrade():
            validate_config_consistency(conf, preliminary=True)
    except FreqtradeException as exc:
        error = best_match(FreqtradeValidator(CONF_SCHEMA).iter_errors(copy.deepcopy(merged)))
        where = ".".join(map(str, error.absolute_path)) if error is not None else ""
        reason = f"{where}: {error.message}" if where else str(exc).strip().splitlines()[0]
        raise FreqaiSeqError(f"Invalid configuration: {reason.rstrip('.')}.") from exc


def _check_freqai(merged: dict[str, Any]) -> None:
    """FreqAI settings whose bad values would otherwise surface as a traceback mid-run."""
    freqai = merged.get("freqai", {})
    if not freqai.get("enabled"):
        raise FreqaiSeqError("freqai.enabled is not true in the config: these commands run "
                             "FreqAI models.")
    check_label_period(freqai.get("feature_parameters", {}), "the config")


def check_label_period(feature_parameters: dict[str, Any], where: str) -> None:
    """`label_period_candles` is the horizon truth, baselines and labels shift by: a whole
    number of candles, at least 1."""
    label = feature_parameters.get("label_period_candles")
    if label is not None and (isinstance(label, bool) or not isinstance(label, int)
                              or label < 1):
        raise FreqaiSeqError(f"freqai.feature_parameters.label_period_candles in {where} must "
                             f"be a whole number of candles, at least 1 (got {label!r}).")


def _check_pairs(inputs: RunInputs, datadir: Path) -> list[str]:
    """Every traded pair (or wildcard, expanded by freqtrade's own helper) and correlated pair
    has candles for every timeframe FreqAI reads, and the candles themselves are sound.
    Returns the traded pairs, wildcards expanded."""
    from freqtrade.plugins.pairlist.pairlist_helpers import expand_pairlist

    from freqai_seq.data.candle_checks import available_candles, raise_on_bad_candles

    available = available_candles(datadir)
    have = sorted({p for p, _ in available})
    try:
        expanded = {entry: expand_pairlist([entry], have)
                    for entry in sorted({*inputs.pairs, *inputs.corr_pairs})}
    except ValueError as exc:  # an invalid wildcard
        raise FreqaiSeqError(f"pair_whitelist: {exc}.") from exc
    wanted = sorted({p for pairs in expanded.values() for p in pairs})
    missing = [e for e, pairs in expanded.items() if not pairs]
    missing += [f"{p} {tf}" for p in wanted for tf in inputs.timeframes
                if (p, tf) not in available]
    if missing:
        raise FreqaiSeqError(f"No candles in {datadir} for {', '.join(missing)} (pairs there: "
                             f"{', '.join(have) or 'none'}); run `freqai-seq data`, or change "
                             "the config's pair_whitelist or include_corr_pairlist.")
    raise_on_bad_candles(datadir, wanted, inputs.timeframes)
    return sorted({p for entry in inputs.pairs for p in expanded[entry]})


def redacted(config: dict[str, Any], mask: str = REDACTED) -> dict[str, Any]:
    """The config through freqtrade's own sanitizing, then every other credential-looking value
    (JWT keys, websocket tokens, ccxt credentials, a password in a database URL) replaced by
    `mask` (a config freqtrade runs needs one its schema accepts: WORKER_PLACEHOLDER)."""
    from freqtrade.configuration.config_secrets import sanitize_config

    def sweep(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: sweep(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [sweep(v, key) for v in value]
        if isinstance(value, str) and value:
            if SECRET_KEY.search(key) or value == REDACTED:  # REDACTED: sanitize_config's
                return mask
            return masked(value, mask)
        return value

    return sweep(sanitize_config(config))


def write_overlay(overlay: dict[str, Any], path: Path) -> Path:
    """Our overlay, holding no secret, for freqtrade's `-c`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(overlay, indent=2))
    return path


def overlay_file(runs: Path, name: str) -> Path:
    """Where a run's overlay waits for freqtrade: named by this process, as its pending record
    is, so concurrent runs of one identifier never share one."""
    return runs / f".{name}.overlay-{os.getpid()}.json"


# The files a run keeps in user_data/runs/ while freqtrade runs, named by the run's pid
_RUN_FILE = re.compile(r"^\..+\.(?:json\.pending-(?P<record>\d+)|overlay-(?P<overlay>\d+)\.json)$")


def clear_leftovers(runs: Path) -> None:
    """Remove the overlays and pending records of runs whose process is gone: a run removes its
    own when it ends, but one killed by kill -9 cannot. A running run's files are kept."""
    for path in runs.glob(".*"):
        if (found := _RUN_FILE.match(path.name)) is None:
            continue
        pid = int(found["record"] or found["overlay"])
        with contextlib.suppress(FileNotFoundError):  # another run removed it meanwhile
            if wrote_and_gone(pid, path.stat().st_mtime):
                path.unlink()
                logger.info("Removed %s, left by a run that was killed (pid %d)", path, pid)


@dataclass(frozen=True)
class RunRecord:
    """`user_data/runs/<name>.json`: written aside first, and put in place of an earlier record
    only once freqtrade has started the run it describes."""

    path: Path
    started_at: float

    @classmethod
    def begin(cls, path: Path, config: dict[str, Any]) -> RunRecord:
        record = cls(path, time.time())
        record.pending.parent.mkdir(parents=True, exist_ok=True)
        record.pending.write_text(json.dumps(redacted(config), indent=2))
        return record

    @property
    def pending(self) -> Path:
        return self.path.with_name(f".{self.path.name}.pending-{os.getpid()}")

    def finish(self, succeeded: bool, models: Path) -> None:
        """Keep the new record when the run succeeded or began writing its models folder
        (which then describes this run); otherwise the earlier record stays."""
        if succeeded or _written_since(models, self.started_at):
            self.pending.replace(self.path)
        else:
            if self.path.exists():
                logger.info("Kept the record of the earlier run in %s: this run did not start.",
                            self.path)
            self.pending.unlink(missing_ok=True)


def _written_since(folder: Path, since: float) -> bool:
    if not folder.is_dir():
        return False
    return any(p.stat().st_mtime >= since for p in [folder, *folder.iterdir()])


@contextlib.contextmanager
def _quiet_freqtrade() -> Iterator[None]:
    """freqtrade's loaders log each file and dump whole schema errors; the caller reports."""
    log = logging.getLogger("freqtrade")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(level)
