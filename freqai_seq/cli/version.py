"""`freqai-seq --version`: the versions a bug report needs, read from the installed packages'
metadata (nothing is imported, so it answers at once)."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Any

PACKAGES = ("freqai-seq", "freqtrade", "torch")


def versions() -> str:
    """One `<package> <version>` line per package of PACKAGES ("not installed" when absent)."""
    lines = []
    for name in PACKAGES:
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} not installed")
    return "\n".join(lines)


class PrintVersions(argparse.Action):
    """Print `versions()` and exit 0, as argparse's own `version` action does."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(versions())
        parser.exit()
