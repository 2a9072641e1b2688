"""The Python, freqtrade and torch versions the plugin supports: the ranges its package metadata
declares (pyproject.toml, the one place they are written), checked against what is installed so
a mismatch says which versions are supported instead of failing somewhere inside freqtrade."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, metadata, requires, version

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from freqai_seq.errors import FreqaiSeqError

DISTRIBUTION = "freqai-seq"
CHECKED = ("freqtrade", "torch")


def supported_ranges() -> dict[str, SpecifierSet]:
    """Python and each checked package -> the range the installed metadata declares."""
    ranges = {"python": SpecifierSet(metadata(DISTRIBUTION)["Requires-Python"] or "")}
    for line in requires(DISTRIBUTION) or []:
        requirement = Requirement(line)
        if requirement.name in CHECKED and requirement.marker is None:
            ranges[requirement.name] = requirement.specifier
    return ranges


def installed_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in CHECKED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def unsupported(ranges: dict[str, SpecifierSet], found: dict[str, str | None]) -> list[str]:
    """`name version` of every installed version outside its range (or missing)."""
    out = []
    for name, spec in ranges.items():
        have = found.get(name)
        if have is None:
            out.append(f"{name} (not installed)")
        elif not spec.contains(have, prereleases=True):
            out.append(f"{name} {have}")
    return out


def check_versions() -> None:
    """FreqaiSeqError naming the supported ranges when an installed version is outside them."""
    try:
        ranges = supported_ranges()
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return
    bad = unsupported(ranges, installed_versions())
    if bad:
        wanted = ", ".join(f"{name} {spec}" for name, spec in ranges.items())
        raise FreqaiSeqError(
            f"freqai-seq {version(DISTRIBUTION)} supports {wanted}; found {', '.join(bad)}. "
            "Install a supported version (pip install 'freqai-seq' resolves them) or a "
            "freqai-seq release made for yours.")
