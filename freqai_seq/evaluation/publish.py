"""Where a measuring command's table goes: a Markdown file, the console and, when asked, its block
in a docs page.

A block is what lies between `<!-- <block> -->` and `<!-- /<block> -->` on a page of
docs/results/ (e.g. `<!-- skill:report -->` ... `<!-- /skill:report -->`): the measured tables
are written there by the commands that measure them, never by hand.
"""

from __future__ import annotations

from pathlib import Path

from freqai_seq.errors import FreqaiSeqError


def markers(block: str) -> tuple[str, str]:
    """The opening and closing marker of `block` on a docs page."""
    return f"<!-- {block} -->", f"<!-- /{block} -->"


def update_page(page: Path, table: str, block: str) -> None:
    """Replace the content of `block` on the docs page `page` by `table`."""
    start, end = markers(block)
    text = page.read_text()
    if start not in text or end not in text:
        raise FreqaiSeqError(f"{page} has no {start} ... {end} block.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{table}\n{end}{tail}")


def publish(table: str, block: str, md_file: Path | None = None,
            page: Path | None = None) -> None:
    """`table` to `md_file` (when given), the console, and with a docs `page` into `block`."""
    if md_file is not None:
        md_file.parent.mkdir(parents=True, exist_ok=True)
        md_file.write_text(table + "\n")
    print(table)
    if page is not None:
        update_page(page, table, block)
        print(f"\nUpdated the {block} block of {page}")
