"""mkdocs hook: replaces the placeholders of the pages by text generated from the code.

    <!-- generated:keys sequence -->         the key table of `freqai-seq keys`
    <!-- generated:keys hybrid -->           ... of `freqai-seq keys --hybrid`
    <!-- generated:keys ensemble -->         ... of `freqai-seq keys --ensemble`
    <!-- generated:synopsis -->              `freqai-seq --help`
    <!-- generated:synopsis market start --> `freqai-seq market start --help`
    <!-- generated:synopses -->              every command's help, each under a heading

Everything comes from the code: the key tables from `freqai_seq.cli.reference` (the config
dataclasses and their key docs), the help texts from `freqai_seq.cli.parser` (the argument parser
the option registry builds), so a page cannot drift from it. A placeholder stands alone on its line;
an unknown one fails the build. The measured tables (bench, skill, intervals markers) are not
generated here: the commands that measure them write them into their pages, between
`<!-- <block> -->` and `<!-- /<block> -->` (freqai_seq.evaluation.publish).
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.exceptions import PluginError

# alone on its line, so that a page can name the syntax in running text
PLACEHOLDER = re.compile(
    r"^<!--[ \t]*generated:(?P<kind>[\w-]+)(?P<args>(?:[ \t]+[\w-]+)*)[ \t]*-->[ \t]*$",
    re.MULTILINE)


def render_placeholder(kind: str, args: list[str]) -> str:
    """The Markdown that replaces `<!-- generated:<kind> <args...> -->`."""
    from freqai_seq.cli import parser, reference

    if kind == "keys":
        if len(args) != 1 or args[0] not in reference.KEY_TABLES:
            raise ValueError(f"generated:keys takes one of {', '.join(reference.KEY_TABLES)}")
        return reference.key_table(args[0])
    if kind == "synopsis":
        return _help_block(args)
    if kind == "synopses":
        if args:
            raise ValueError("generated:synopses takes no arguments")
        return "\n\n".join(f"### `{' '.join(['freqai-seq', *path])}`\n\n{_help_block(path)}"
                           for path in parser.command_paths())
    raise ValueError(f"unknown placeholder generated:{kind}")


def _help_block(path: list[str]) -> str:
    from freqai_seq.cli import parser

    command = " ".join(["freqai-seq", *path, "--help"])
    return f"```text\n$ {command}\n{parser.synopsis(path)}\n```"


def render(markdown: str, where: str = "page") -> str:
    """`markdown` with every placeholder replaced."""

    def replace(match: re.Match[str]) -> str:
        try:
            return render_placeholder(match["kind"], match["args"].split())
        except ValueError as err:
            raise PluginError(f"{where}: {match[0]}: {err}") from err

    return PLACEHOLDER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    return render(markdown, page.file.src_uri)
