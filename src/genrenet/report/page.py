"""The page's building blocks (sections and figures), shared by the HTML and Markdown writers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genrenet.report.tables import Table

SECTION_IDS = ("about", "results", "curves", "confusion", "genre-averages", "track-map", "top-k")


@dataclass
class Figure:
    """A figure written for the page: its file, a title and a caption."""

    key: str
    path: Path
    title: str
    caption: str = ""


@dataclass
class Section:
    """A heading and its blocks (paragraphs, tables, figures) in order."""

    id: str
    title: str
    blocks: list[str | Table | Figure] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
