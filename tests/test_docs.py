"""The documentation site: `mkdocs build --strict` passes, the parts generated from the code
(key tables, command synopses) are in it, the measured tables sit between their markers in
the pages their commands write, the README stays a one-or-two-screen introduction, and the
Quick start and model pages speak to a wheel user as well as to a clone."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from freqai_seq.cli import parser, reference
from tests.conftest import ROOT

DOCS = ROOT / "docs"

# the blocks `bench`, `skill`, `intervals`, `scale` and `threads` replace (`--page`), by the page
# that holds them
MEASURED_BLOCKS = {
    "results/benchmark.md": [("<!-- bench -->", "<!-- /bench -->")],
    "results/skill.md": [("<!-- skill:selection -->", "<!-- /skill:selection -->"),
                         ("<!-- skill:report -->", "<!-- /skill:report -->")],
    "results/intervals.md": [("<!-- intervals:selection -->", "<!-- /intervals:selection -->"),
                             ("<!-- intervals:report -->", "<!-- /intervals:report -->")],
    "results/scale-out.md": [("<!-- scale -->", "<!-- /scale -->"),
                             ("<!-- live-cycle -->", "<!-- /live-cycle -->"),
                             ("<!-- threads -->", "<!-- /threads -->")],
    "results/soak.md": [("<!-- soak -->", "<!-- /soak -->")],
    "results/training-options.md": [("<!-- skill:selection -->", "<!-- /skill:selection -->"),
                                    ("<!-- skill:report -->", "<!-- /skill:report -->")],
}


@functools.cache
def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hook_generated",
                                                  DOCS / "hooks" / "generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered_page(page: str) -> str:
    """The Markdown of `docs/<page>` as the site renders it: placeholders replaced."""
    return _hook().render((DOCS / page).read_text(), page)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def test_site_builds_strict_with_the_generated_tables_and_synopses(site: Path) -> None:
    pages = site / "model-classes"
    assert "<td><code>hidden_size</code></td>" in (pages / "sequence" / "index.html").read_text()
    assert "<td><code>conv_kernels</code></td>" in (pages / "hybrid" / "index.html").read_text()
    assert "<td><code>ensemble_stack_shrinkage</code></td>" in (
        pages / "ensemble" / "index.html").read_text()
    commands = (site / "commands" / "index.html").read_text()
    for path in parser.command_paths():
        assert f"usage: freqai-seq {' '.join(path)} " in commands, path
    for html in site.rglob("*.html"):  # no placeholder left (pages name them only as code)
        assert "<!-- generated:" not in html.read_text(), html


def test_placeholders_render_the_code_s_tables_and_help() -> None:
    page = rendered_page("model-classes/sequence.md")
    assert reference.key_table("sequence") in page
    assert "<!-- generated:" not in page
    assert parser.synopsis(["market", "start"]) in rendered_page("data-and-market.md")
    # a placeholder alone on its line is replaced; one named in running text is not
    text = "<!-- generated:keys hybrid -->\nsee `<!-- generated:keys hybrid -->`\n"
    assert _hook().render(text).count("<!-- generated:keys hybrid -->") == 1


@pytest.mark.parametrize("placeholder", ["<!-- generated:nothing -->",
                                         "<!-- generated:keys lstm -->",
                                         "<!-- generated:synopsis market nothing -->"])
def test_a_bad_placeholder_fails_the_build(placeholder: str) -> None:
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="generated:"):
        _hook().render(placeholder)


def test_measured_tables_sit_between_their_markers() -> None:
    for page, blocks in MEASURED_BLOCKS.items():
        text = (DOCS / page).read_text()
        for start, end in blocks:
            assert text.count(start) == 1 and text.count(end) == 1, (page, start)
            assert re.search(re.escape(start) + r"\n.*\|.*\n" + re.escape(end), text, re.S), page


def test_readme_is_a_short_introduction() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    for command in ("make backtest", "make test"):
        assert command in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_every_module_and_file_the_docs_name_exists() -> None:
    """A page that names `freqai_seq/x.py` or `freqai_seq.x.y` must follow the code when it
    moves (the layout has rooms; saved-model paths are the only old names kept)."""
    missing = []
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        text = page.read_text()
        missing += [(page.name, m) for m in re.findall(r"\bfreqai_seq/[\w/.-]*\w", text)
                    if not (ROOT / m).exists()]
        for name in re.findall(r"\bfreqai_seq(?:\.\w+)+", text):
            parts = name.split(".")
            # a module, or an attribute of one (freqai_seq.checkpoints.CheckpointLoader)
            if not any(ROOT.joinpath(*parts[:i]).with_suffix(".py").exists()
                       or (ROOT.joinpath(*parts[:i]) / "__init__.py").exists()
                       for i in (len(parts) - 1, len(parts))):
                missing.append((page.name, name))
    assert not missing


def _shell_commands(block: str) -> list[str]:
    """The commands of a bash block: continuations joined, `&&` chains split, comments dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    lines = [line.split("  #")[0].strip() for line in joined.splitlines()]
    return [" ".join(part.split()) for line in lines if line and not line.startswith("#")
            for part in line.split("&&")]


def test_quick_start_opens_with_the_install_page_s_commands_then_the_repository() -> None:
    """The home page's first lines are the two ways in; the wheel's are the install page's
    tested snippet (tests/test_wheel_install.py runs it), so they cannot drift from it."""
    index = (DOCS / "index.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", index, re.S)
    order = [index.find(mark) for mark in ("## Quick start: the wheel", "```bash",
                                           "## Quick start: the repository", "```bash\ngit clone",
                                           "## What is in place")]
    assert order == sorted(order) and order[0] > -1, order
    wheel, repository = _shell_commands(blocks[0]), _shell_commands(blocks[1])
    snippet = re.search(r"<!-- install-snippet -->\n```bash\n(.*?)```",
                        (DOCS / "install.md").read_text(), re.S)
    assert snippet is not None
    tested = _shell_commands(snippet.group(1))
    assert [command for command in wheel if command not in tested] == []
    assert wheel[-1].startswith("freqtrade backtesting ")
    assert repository[0].startswith("git clone ") and "make backtest" in repository


def test_model_pages_name_the_classes_a_wheel_user_loads() -> None:
    """A model page opens with the class names `--freqaimodel` takes (wheel users have no
    repository folders), each a class `freqai-seq install` writes a loader for."""
    from freqai_seq.runs.loaders import KINDS

    # the classes of the module install writes loaders for, read without importing torch
    models = next(kind for kind in KINDS if kind.folder == "freqaimodels")
    spec = importlib.util.find_spec(models.module)
    assert spec is not None and spec.origin is not None
    installed = {node.name for node in ast.parse(Path(spec.origin).read_text()).body
                 if isinstance(node, ast.ClassDef)}
    for page in ("sequence", "hybrid", "ensemble"):
        text = (DOCS / "model-classes" / f"{page}.md").read_text()
        opening = text.split("\n\n")[1]
        named = re.findall(r"--freqaimodel (\w+)", opening)
        assert named and set(named) <= set(installed), (page, named)
    for page in (DOCS / "model-classes").glob("*.md"):
        assert "freqai_models/" not in page.read_text(), page


def test_every_page_loads_the_wide_layout_stylesheet(site: Path) -> None:
    assert (site / "stylesheets" / "extra.css").is_file()
    for html in site.rglob("index.html"):
        assert "stylesheets/extra.css" in html.read_text(), html
