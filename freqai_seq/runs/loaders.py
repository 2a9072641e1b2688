"""The loader files through which freqtrade finds the plugin's classes.

freqtrade loads a strategy or FreqAI model only from a `.py` file in its search path
(`<userdir>/strategies`, `<userdir>/freqaimodels`, or `strategy_path` / `freqaimodel_path`),
and only a class defined in that file. A loader file therefore subclasses the installed class
under the same name and holds nothing else: the code stays in the package, so upgrading the
package upgrades every loader. `freqai-seq install --userdir DIR` writes them; the commands that
start freqtrade write them into their user-data folder first; the repository's `freqai_models/`
and `strategies/` hold the same files.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from freqai_seq import paths
from freqai_seq.atomic import atomic_writer
from freqai_seq.errors import FreqaiSeqError

logger = logging.getLogger(__name__)

MARKER = "written by `freqai-seq install`"


@dataclass(frozen=True)
class PluginKind:
    folder: str  # under the user-data folder, where freqtrade looks by default
    module: str  # the package module defining the classes

    def classes(self) -> dict[str, str]:
        """Class name -> first docstring line, in definition order."""
        return {name: (inspect.getdoc(obj) or "").splitlines()[0]
                for name, obj in vars(importlib.import_module(self.module)).items()
                if inspect.isclass(obj) and obj.__module__ == self.module}


KINDS = (PluginKind("freqaimodels", "freqai_seq.freqaimodels"),
         PluginKind("strategies", "freqai_seq.strategies"))


def loader_source(kind: PluginKind, name: str, doc: str) -> str:
    package, module = kind.module.rsplit(".", 1)
    return (f'"""freqtrade\'s loader of {name} ({MARKER}).\n\n'
            f"The class lives in the installed package, {kind.module}: this file never needs "
            f'editing.\n"""\n\n'
            f"from {package} import {module}\n\n\n"
            f"class {name}({module}.{name}):\n"
            f'    """{doc}"""\n')


def loader_files() -> dict[str, str]:
    """`<folder>/<Class>.py` -> source, for every plugin class."""
    return {f"{kind.folder}/{name}.py": loader_source(kind, name, doc)
            for kind in KINDS for name, doc in kind.classes().items()}


def install(userdir: Path, force: bool = False) -> list[Path]:
    """Write every loader file under `userdir`; returns the files written (an identical file is
    left alone). A different file of the same name that this command did not write is kept
    unless `force`: it may be the user's own."""
    written = []
    try:
        for relative, source in loader_files().items():
            path = userdir / relative
            if path.exists():
                current = path.read_text()
                if current == source:
                    continue
                if MARKER not in current and not force:
                    raise FreqaiSeqError(
                        f"{path} exists and was not written by freqai-seq: move it away or "
                        "pass --force to replace it.")
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(path) as fh:
                fh.write(source.encode())
            written.append(path)
    except OSError as exc:  # a read-only file system, a file in the way, /proc
        raise FreqaiSeqError(f"Cannot write the loader files under {userdir}: {exc.strerror} "
                             f"({exc.filename}); pass a writable folder as --userdir.") from exc
    return written


# Keys of the repository's config.json that point into the repository checkout.
REPOSITORY_ONLY_KEYS = ("strategy_path", "freqaimodel_path")


def example_config() -> str:
    """The package's example config.json for a freqtrade setup of the user's own: the loaders
    live in the user-data folder, so the repository's search paths are left out."""
    config = json.loads((paths.EXAMPLES / "config.json").read_text())
    for key in REPOSITORY_ONLY_KEYS:
        config.pop(key, None)
    return json.dumps(config, indent=4) + "\n"


# The overlays written beside the example config: `.offline` points freqtrade at the offline
# market (its USD pairs exist only there), `.online` swaps them for real Binance USDT pairs.
OVERLAYS = ("offline", "online")


def example_files(path: Path) -> dict[Path, str]:
    """The example config at `path` and its overlays beside it (`config.offline.json` ...)."""
    files = {path: example_config()}
    for overlay in OVERLAYS:
        source = (paths.EXAMPLES / f"config.{overlay}.json").read_text()
        files[path.with_name(f"{path.stem}.{overlay}{path.suffix}")] = source
    return files


def write_example_config(path: Path, force: bool = False) -> list[Path]:
    """The example config and its overlays; none is written when one exists (unless force)."""
    files = example_files(path)
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        raise FreqaiSeqError(f"{', '.join(existing)} exist(s): choose another --config path or "
                             "pass --force.")
    try:
        for target, text in files.items():
            with atomic_writer(target) as fh:
                fh.write(text.encode())
    except OSError as exc:  # as for the loaders: read-only, a missing folder, /proc
        raise FreqaiSeqError(f"Cannot write the example config {path}: {exc.strerror}; pass "
                             "a writable path as --config.") from exc
    return list(files)


def install_loaders(userdir: Path) -> None:
    """What a command does before it starts freqtrade: the loaders in its user-data folder, so
    freqtrade finds the plugin's classes from any working directory."""
    written = install(userdir)
    if written:
        logger.info("Wrote %d loader file(s) under %s (freqai_seq.runs.loaders)", len(written),
                    userdir)
