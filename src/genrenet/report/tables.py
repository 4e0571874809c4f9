"""Tables and cell formatting, in one place so the HTML and Markdown show the same numbers."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genrenet.report.readers import _DIR_KEYS, _FOLD_KEYS, CrossValFolder, GridFolder, _number

_COUNT_KEYS = ("train", "valid", "test", "rank", "best_epoch", "epochs_run")
FOLD_COLUMNS = (
    "fold",
    "train",
    "valid",
    "test",
    "track_accuracy",
    "track_macro_f1",
    "track_top_2_accuracy",
    "track_top_3_accuracy",
    "track_loss",
    "segment_accuracy",
    "best_epoch",
)
"""Columns of the per-fold table when cv.json has crossval.py's rows (others are left out)."""
COLUMN_TITLES = {
    "id": "cell",
    "track_accuracy": "track acc",
    "track_macro_f1": "macro F1",
    "track_top_2_accuracy": "top-2",
    "track_top_3_accuracy": "top-3",
    "track_loss": "loss",
    "segment_accuracy": "segment acc",
    "segment_macro_f1": "segment macro F1",
    "segment_loss": "segment loss",
    "pooled_track_accuracy": "pooled track acc",
    "best_epoch": "best epoch",
    "epochs_run": "epochs",
}


@dataclass
class Table:
    """A table for the page: header, string cells, and an optional CSS class per row."""

    headers: list[str]
    rows: list[list[str]]
    marks: dict[int, str] = field(default_factory=dict)
    caption: str = ""


def column_title(key: str) -> str:
    """A readable column heading for a result key."""
    return COLUMN_TITLES.get(key, key.replace("_", " "))


def _is_share(key: str) -> bool:
    """True for metric names whose values are shares of items (shown as percentages)."""
    key = key.lower()
    return "acc" in key or "recall" in key or "precision" in key


def _is_score(key: str) -> bool:
    """True for F1 and loss figures (shown with three decimals)."""
    key = key.lower()
    return "f1" in key or "loss" in key or key == "ece"


def format_value(key: str, value: Any) -> str:
    """A cell for the tables: shares as %, F1 and loss with 3 decimals, other floats 4 digits."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if re.fullmatch(r"[+-]?\d+", value.strip()):
            return value.strip()
        value = number
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if _is_share(key) and 0.0 <= value <= 1.0:
            return f"{value:.1%}"
        if _is_score(key):
            return f"{value:.3f}"
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(key, v) for v in value)
    return str(value)


def _mean_std(key: str, mean: float, std: float) -> str:
    """``mean ± std`` in the format of ``key``'s values."""
    if not math.isfinite(std):
        return format_value(key, mean)
    if _is_share(key) and 0.0 <= mean <= 1.0:
        return f"{mean:.1%} ± {std:.1%}"
    if _is_score(key):
        return f"{mean:.3f} ± {std:.3f}"
    return f"{mean:.4g} ± {std:.2g}"


def _metric_table(metrics: Mapping[str, Any], column: str) -> Table:
    """The headline figures of one metrics dict as a two-column table."""
    specs = (
        ("items", "n"),
        ("accuracy", "accuracy"),
        ("top-2 accuracy", "top_2_accuracy"),
        ("top-3 accuracy", "top_3_accuracy"),
        ("macro F1", "macro_f1"),
        ("balanced accuracy (macro-recall)", "balanced_accuracy"),
        ("ECE (15 bins)", "ece"),
    )
    intervals = metrics.get("intervals") or {}
    rows = []
    for title, key in specs:
        cell = format_value(key, metrics.get(key))
        if key in intervals:
            low, high = intervals[key]
            cell += f" [{low:.1%}, {high:.1%}]"
        rows.append([title, cell])
    caption = "95% intervals over tracks in brackets." if intervals else ""
    return Table(["metric", column], rows, caption=caption)


def _per_genre_table(metrics: Mapping[str, Any]) -> Table:
    """Precision, recall (= per-genre accuracy), F1 and support of each genre."""
    rows = []
    for name, row in metrics.get("per_genre", {}).items():
        rows.append(
            [
                name,
                format_value("precision", row.get("precision")),
                format_value("recall", row.get("recall")),
                f"{row.get('f1', math.nan):.3f}",
                str(row.get("support", "-")),
            ]
        )
    return Table(["genre", "precision", "recall (accuracy)", "F1", "tracks"], rows)


def _scalar_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys holding scalars in some row (no folders, lists or dicts), in first-seen order."""
    seen: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key in seen or key in _DIR_KEYS or isinstance(value, dict | list):
                continue
            seen.append(key)
    return seen


def _cv_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fold-table columns: crossval.py's main ones when present, else every scalar column."""
    present = {k for row in rows for k in row}
    if "track_accuracy" in present:
        return [k for k in FOLD_COLUMNS if k in present]
    columns = _scalar_columns(rows) or ["fold"]
    return columns if any(k in columns for k in _FOLD_KEYS) else ["fold", *columns]


def _cv_table(cv: CrossValFolder) -> Table:
    """One row per fold, then mean ± std (cv.json's summary, else computed over the folds)."""
    columns = _cv_columns(cv.rows)
    table = Table([column_title(k) for k in columns], [])
    for position, row in enumerate(cv.rows):
        cells = []
        for key in columns:
            value = row.get(key)
            if key == "fold" and value is None:
                value = position + 1
            cells.append(format_value(key, value))
        table.rows.append(cells)
    ranked = cv.ranked()
    if ranked:
        table.marks[ranked[0]] = "best"
        if len(ranked) > 1:
            table.marks[ranked[-1]] = "worst"
    summary_row = []
    for key in columns:
        values = [_number(r, (key,)) for r in cv.rows]
        numeric = [v for v in values if v is not None]
        if key in _FOLD_KEYS or key in _COUNT_KEYS or not numeric or len(numeric) != len(values):
            summary_row.append("")
        elif key in cv.summary:
            summary_row.append(_mean_std(key, *cv.summary[key]))
        else:
            std = float(np.std(numeric, ddof=1)) if len(numeric) > 1 else math.nan
            summary_row.append(_mean_std(key, float(np.mean(numeric)), std))
    summary_row[0] = "mean ± std"
    table.rows.append(summary_row)
    table.marks[len(table.rows) - 1] = "summary"
    return table


def _shown_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Settings worth a line: scalars and short lists of scalars (nested tables are left out)."""
    out = []
    for key, value in settings.items():
        if isinstance(value, dict) or (
            isinstance(value, list)
            and (len(value) > 12 or any(isinstance(v, dict | list) for v in value))
        ):
            continue
        out.append((key, format_value(key, value)))
    return out


def _leaky_table(leaky: Mapping[str, Any]) -> Table:
    """The leaky (segment-level) vs honest (track-level) contrast of crossval.py."""
    rows = [
        [
            "leaky: segments of one song in training and test",
            format_value("accuracy", leaky.get("leaky_segment_accuracy")),
        ],
        ["honest: split by track", format_value("accuracy", leaky.get("honest_segment_accuracy"))],
    ]
    inflation = _number(leaky, ("inflation_pp",))
    caption = "" if inflation is None else f"Inflation: {inflation:+.1f} percentage points."
    return Table(["split", "segment accuracy"], rows, caption=caption)


def _grid_table(grid: GridFolder) -> Table:
    """All cells, one row each; a ``X_mean`` column and its ``X_std`` become one mean ± std."""
    columns: list[tuple[str, str | None]] = []
    for key in grid.headers:
        if key.endswith("_std") and key.removesuffix("_std") + "_mean" in grid.headers:
            continue
        std = key.removesuffix("_mean") + "_std" if key.endswith("_mean") else None
        columns.append((key, std if std in grid.headers else None))
    headers = []
    for key, std in columns:
        base = key.removesuffix("_mean") if key.endswith("_mean") else key
        suffix = " (mean ± std)" if std else " (mean)" if key.endswith("_mean") else ""
        headers.append(column_title(base) + suffix)
    rows = []
    for row in grid.rows:
        cells = []
        for key, std in columns:
            mean = _number(row, (key,))
            spread = _number(row, (std,)) if std else None
            if std and mean is not None:
                cells.append(_mean_std(key, mean, spread if spread is not None else math.nan))
            else:
                cells.append(format_value(key, row.get(key)))
        rows.append(cells)
    return Table(headers, rows)
