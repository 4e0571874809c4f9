"""One readable page about a training run, a cross-validation or a grid: ``genrenet report DIR``.

The folder's own files (metrics, split, training log, model) decide what is shown; figures go to
``DIR/report/`` as PNGs, ``report.html`` embeds them (one self-contained file) and ``report.md``
links them. A section whose inputs are missing says so instead of disappearing.
"""

from __future__ import annotations

from genrenet.report.build import (
    AVERAGE_SECONDS,
    FIGURE_FILES,
    HTML_FILE,
    KIND_NAMES,
    KIND_TEXT,
    MD_FILE,
    REPORT_DIR,
    TRACKS_PER_GENRE,
    build_report,
)
from genrenet.report.collection import (
    MAX_WINDOWS,
    genre_means,
    sample_tracks,
    split_parts,
    synthetic_note,
    track_embeddings,
)
from genrenet.report.figures import plot_genre_averages, plot_track_map, standardise_rows
from genrenet.report.html import NARROW_FIGURES, render_html
from genrenet.report.markdown import render_markdown
from genrenet.report.page import SECTION_IDS, Figure, Section
from genrenet.report.plan import ReportPlan, plan_report, resolve_data
from genrenet.report.readers import (
    CrossValFolder,
    GridFolder,
    RunFolder,
    detect_kind,
    fold_dirs,
    pool_metrics,
    read_crossval,
    read_grid,
    read_run,
)
from genrenet.report.tables import COLUMN_TITLES, FOLD_COLUMNS, Table, column_title, format_value

__all__ = [
    "AVERAGE_SECONDS",
    "COLUMN_TITLES",
    "FIGURE_FILES",
    "FOLD_COLUMNS",
    "HTML_FILE",
    "KIND_NAMES",
    "KIND_TEXT",
    "MAX_WINDOWS",
    "MD_FILE",
    "NARROW_FIGURES",
    "REPORT_DIR",
    "SECTION_IDS",
    "TRACKS_PER_GENRE",
    "CrossValFolder",
    "Figure",
    "GridFolder",
    "ReportPlan",
    "RunFolder",
    "Section",
    "Table",
    "build_report",
    "column_title",
    "detect_kind",
    "fold_dirs",
    "format_value",
    "genre_means",
    "plan_report",
    "plot_genre_averages",
    "plot_track_map",
    "pool_metrics",
    "read_crossval",
    "read_grid",
    "read_run",
    "render_html",
    "render_markdown",
    "resolve_data",
    "sample_tracks",
    "split_parts",
    "standardise_rows",
    "synthetic_note",
    "track_embeddings",
]
