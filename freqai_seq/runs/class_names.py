"""The strategy and FreqAI model a run names, checked before freqtrade starts.

freqtrade looks a class up only once it has started (seconds in), and a misspelt name ends in
`Impossible to load ...` with no alternative. The classes it could load are found here without
importing anything: `class X(` in the `.py` files of the folders freqtrade searches (as its
`IResolver.build_search_paths`: the config's or the command line's `freqaimodel_path` /
`strategy_path`, the user-data folder's `freqaimodels/` and `strategies/`, FreqAI's own
prediction models), plus the plugin's classes, which the loader files make loadable.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from freqai_seq.errors import FreqaiSeqError

CLASS = re.compile(r"^class\s+(\w+)\s*[(:]", re.MULTILINE)
SHOWN = 12  # known names listed when none is close


def module_file(module: str) -> Path:
    """A module's source file, found without importing the module."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


def classes_in(files: Iterable[Path]) -> set[str]:
    """Names of the top-level classes defined in these `.py` files (unreadable ones skipped)."""
    names: set[str] = set()
    for file in files:
        try:
            names.update(CLASS.findall(file.read_text(errors="replace")))
        except OSError:
            continue
    return names


def py_files(folder: Path, recursive: bool = False) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(folder.rglob("*.py") if recursive else folder.glob("*.py"))


def option_value(args: list[str], flag: str) -> str | None:
    """The value of `flag` among freqtrade arguments (`--flag V` or `--flag=V`), the last one
    winning as in argparse."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(f"{flag}="):
            value = arg.split("=", 1)[1]
    return value


def check_class_names(model: str, strategy: str, userdir: Path, config: dict[str, Any],
                      extra: list[str]) -> None:
    """FreqaiSeqError naming the closest known classes when freqtrade could not find the model
    or the strategy (`config`: the merged config; `extra`: freqtrade arguments after `--`)."""
    from freqtrade.constants import USERPATH_FREQAIMODELS, USERPATH_STRATEGIES

    from freqai_seq.runs.loaders import KINDS

    plugin = {kind.folder: classes_in([module_file(kind.module)]) for kind in KINDS}
    model_path = option_value(extra, "--freqaimodel-path") or config.get("freqaimodel_path")
    strategy_path = option_value(extra, "--strategy-path") or config.get("strategy_path")
    recursive = bool(config.get("recursive_strategy_search")
                     or "--recursive-strategy-search" in extra)
    freqai_models = module_file("freqtrade.freqai.prediction_models").parent
    _check("--freqaimodel", "FreqAI model", model, plugin[USERPATH_FREQAIMODELS], [
        *([Path(model_path)] if model_path else []), userdir / USERPATH_FREQAIMODELS,
        freqai_models], False)
    _check("--strategy", "strategy", strategy, plugin[USERPATH_STRATEGIES], [
        *([Path(strategy_path)] if strategy_path else []), userdir / USERPATH_STRATEGIES],
        recursive)


def _check(flag: str, what: str, name: str, plugin: set[str], folders: list[Path],
           recursive: bool) -> None:
    known = plugin | classes_in(f for folder in folders for f in py_files(folder, recursive))
    if name in known:
        return
    close = difflib.get_close_matches(name, sorted(known), n=3)
    listed = sorted(known)
    hint = (f"did you mean {' or '.join(close)}?" if close else
            f"known: {', '.join(listed[:SHOWN])}{', ...' if len(listed) > SHOWN else ''}.")
    searched = ", ".join(str(f) for f in folders if f.is_dir())
    raise FreqaiSeqError(f"{flag} {name}: no {what} class of that name in freqai-seq or "
                         f"{searched or 'any folder freqtrade searches'}; {hint}")
