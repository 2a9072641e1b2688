"""The plugin as a freqtrade user installs it: the wheel into a fresh environment that already
has freqtrade (with its freqai extra) and torch, a user-data folder made by freqtrade in an
unrelated directory, and offline backtests run from there with freqtrade's own command and with
`freqai-seq backtest`. The environment comes from a wheelhouse made once per test session."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from freqai_seq.commands.loaders import install, loader_files, write_example_config
from freqai_seq.compat import installed_versions, supported_ranges, unsupported
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.overlay import offline_overlay
from tests.conftest import INTEGRATION_TIMERANGE, ROOT

TORCH = "torch==2.13.0"  # the CPU build on this machine's disk (README, Install)
TINY = {"window": 12, "hidden_size": 16, "epochs": 2}


def _run(cmd: list[str | Path], cwd: Path = ROOT,
         timeout: float = 900) -> subprocess.CompletedProcess[str]:
    # wide enough that freqtrade's console never wraps a log line
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False, env={**os.environ, "COLUMNS": "4000"})
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return result


def _versions(python: Path) -> dict[str, str]:
    listed = _run([python, "-m", "pip", "list", "--format", "json"]).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(listed)}


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder of wheels, the package's wheel): the package built once, then every dependency
    fetched once from the index pip is configured with."""
    house = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", house, ROOT])
    (wheel,) = house.glob("freqai_seq-*.whl")
    # `pip wheel` also builds the dependencies published as source only (once, here)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "-w", house, wheel, TORCH])
    return house, wheel


@pytest.fixture(scope="session")
def user_env(wheelhouse: tuple[Path, Path],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with freqtrade[freqai] and torch, then the wheel: (its python, the versions
    of freqtrade and torch before the wheel came)."""
    house, wheel = wheelhouse
    env = tmp_path_factory.mktemp("user-env") / "venv"
    _run([sys.executable, "-m", "venv", env])
    python = env / "bin" / "python"
    offline = ["--no-index", "--find-links", house, "-q"]
    _run([python, "-m", "pip", "install", *offline, "freqtrade[freqai]==2026.9", TORCH])
    before = _versions(python)
    _run([python, "-m", "pip", "install", *offline, wheel])
    return python, before


@pytest.mark.integration
def test_the_wheel_keeps_the_installed_freqtrade_and_torch(user_env) -> None:
    python, before = user_env
    after = _versions(python)
    assert {k: after[k] for k in ("freqtrade", "torch")} == {
        k: before[k] for k in ("freqtrade", "torch")}
    where = _run([python, "-c", "import freqai_seq; print(freqai_seq.__file__)"],
                 cwd=python.parent).stdout
    assert "site-packages" in where  # the wheel's copy, not this checkout


@pytest.mark.integration
def test_a_user_backtests_from_an_unrelated_folder_with_freqtrade_and_freqai_seq(
        user_env, market, datadir: Path, tmp_path: Path) -> None:
    python, _ = user_env
    bin_dir = python.parent
    work = tmp_path / "somewhere-else"
    work.mkdir()
    _run([bin_dir / "freqtrade", "create-userdir", "--userdir", "ud"], cwd=work)
    installed = _run([bin_dir / "freqai-seq", "install", "--userdir", "ud", "--config",
                      "config.json"], cwd=work).stdout
    for relative in loader_files():
        assert (work / "ud" / relative).is_file(), installed
    config = json.loads((work / "config.json").read_text())
    assert "strategy_path" not in config  # the repository's search paths stay out
    (work / "tiny.json").write_text(json.dumps(TINY))
    (work / "short.json").write_text(json.dumps({
        "exchange": {"pair_whitelist": ["BTC/USD"]},
        "freqai": {"train_period_days": 30, "model_training_parameters": TINY}}))
    (work / "offline.json").write_text(json.dumps(offline_overlay(market.host, market.port)))

    plain = _run([bin_dir / "freqtrade", "backtesting", "-c", "config.json", "-c", "short.json",
                  "-c", "offline.json", "--userdir", "ud", "--datadir", datadir,
                  "--strategy", "FreqaiSeqStrategy", "--freqaimodel", "PyTorchLSTMRegressor",
                  "--timerange", INTEGRATION_TIMERANGE, "--cache", "none"], cwd=work)
    log = plain.stdout + plain.stderr
    resolved = re.findall(r"Using resolved (\w+) (\w+) from '([^']+)'", log)
    found = {(kind, name): (work / path).resolve() for kind, name, path in resolved}
    ud = (work / "ud").resolve()  # the loaders `install` wrote, not this checkout's files
    assert found[("freqaimodel", "PyTorchLSTMRegressor")] == (
        ud / "freqaimodels" / "PyTorchLSTMRegressor.py"), resolved
    assert found[("strategy", "FreqaiSeqStrategy")] == (
        ud / "strategies" / "FreqaiSeqStrategy.py"), resolved
    assert "BACKTESTING REPORT" in log and "Done training BTC/USD" in log

    ours = _run([bin_dir / "freqai-seq", "backtest", "-c", "config.json", "-c", "short.json",
                 "--userdir", "ud", "--datadir", datadir, "--training-params", "tiny.json",
                 "--model", "PyTorchLSTMRegressor", "--strategy", "FreqaiSeqStrategy",
                 "--timerange", INTEGRATION_TIMERANGE, "--identifier", "from-freqai-seq"],
                cwd=work)
    assert "BACKTESTING REPORT" in ours.stdout + ours.stderr
    assert list((work / "ud" / "models" / "from-freqai-seq").glob("sub-train-*"))


def test_versions_outside_the_declared_ranges_are_named_with_the_supported_ones() -> None:
    ranges = supported_ranges()
    assert set(ranges) == {"python", "freqtrade", "torch"}
    assert unsupported(ranges, installed_versions()) == []  # this environment is supported
    bad = unsupported({"freqtrade": SpecifierSet("==2026.9"), "torch": SpecifierSet(">=2.13")},
                      {"freqtrade": "2026.10", "torch": None})
    assert bad == ["freqtrade 2026.10", "torch (not installed)"]


def test_the_repository_loaders_are_the_ones_install_writes() -> None:
    folders = {"freqaimodels": "freqai_models", "strategies": "strategies"}
    expected = {f"{folders[k.split('/')[0]]}/{k.split('/')[1]}": v
                for k, v in loader_files().items()}
    present = {str(p.relative_to(ROOT)): p.read_text()
               for folder in folders.values() for p in (ROOT / folder).glob("*.py")}
    assert present == expected


def test_install_writes_once_keeps_the_users_own_files_and_replaces_them_on_force(
        tmp_path: Path) -> None:
    assert len(install(tmp_path)) == len(loader_files())
    assert install(tmp_path) == []  # up to date: nothing rewritten
    own = tmp_path / "strategies" / "FreqaiSeqStrategy.py"
    own.write_text("class FreqaiSeqStrategy: ...  # the user's own\n")
    with pytest.raises(FreqaiSeqError, match="--force"):
        install(tmp_path)
    assert "the user's own" in own.read_text()
    assert install(tmp_path, force=True) == [own]
    write_example_config(tmp_path / "config.json")
    with pytest.raises(FreqaiSeqError, match="exists"):
        write_example_config(tmp_path / "config.json")
