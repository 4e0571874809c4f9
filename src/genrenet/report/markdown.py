"""Write the report as Markdown with linked PNGs, the plain-text twin of the HTML page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genrenet.report.page import Section
from genrenet.report.tables import Table


def _md_cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    """A table as a Markdown pipe table (best/worst rows marked in the first cell)."""
    if not table.headers:
        return ""
    lines = ["| " + " | ".join(_md_cell(h) for h in table.headers) + " |"]
    lines.append("|" + "|".join(["---"] * len(table.headers)) + "|")
    for i, row in enumerate(table.rows):
        cells = [_md_cell(c) for c in row]
        mark = table.marks.get(i)
        if mark in ("best", "worst") and cells:
            cells[0] = f"**{cells[0]}** ({mark})"
        elif mark == "summary":
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines.append("")
        lines.append(f"*{table.caption}*")
    return "\n".join(lines)


def render_markdown(title: str, lead: list[str], sections: Sequence[Section], base: Path) -> str:
    """The Markdown twin: the same text and tables, figures linked relative to ``base``."""
    lines = [f"# {title}", ""]
    for line in lead:
        lines += [line, ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for note in section.missing:
            lines += [f"> {note}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, Table):
                lines += [_md_table(block), ""]
            else:
                rel = block.path.relative_to(base).as_posix()
                lines += [f"![{block.title}]({rel})", "", f"*{block.title}.* {block.caption}", ""]
    return "\n".join(lines).rstrip() + "\n"
