"""One readable page about a training run, a cross-validation or a grid: ``genrenet report DIR``.

The folder's own files (metrics, split, training log, model) decide what is shown; figures go to
``DIR/report/`` as PNGs, ``report.html`` embeds them (one self-contained file) and ``report.md``
links them. A section whose inputs are missing says so instead of disappearing.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrenet.evaluation import (
    DPI,
    EvaluationResult,
    _atomic_write,
    _new_figure,
    _save_png,
    load_history,
    plot_confusion_matrix,
    plot_per_genre_accuracy,
    plot_top_k_accuracy,
    plot_training_curves,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from genrenet.classifier import Classifier
    from genrenet.data.tracks import Collection, Track

REPORT_DIR = "report"
HTML_FILE = "report.html"
MD_FILE = "report.md"
AVERAGE_SECONDS = 10.0
"""Genre averages use the first this many seconds of each track."""
TRACKS_PER_GENRE = 50
"""At most this many tracks per genre go into the averages and the track map."""
MAX_WINDOWS = 8
"""At most this many model windows per track are embedded for the track map."""

FIGURE_FILES = {
    "curves_best": "training_curves_best.png",
    "curves_worst": "training_curves_worst.png",
    "confusion_matrix": "confusion_matrix.png",
    "per_genre_accuracy": "per_genre_accuracy.png",
    "genre_averages": "genre_averages.png",
    "track_map": "track_map_pca.png",
    "top_k_accuracy": "top_k_accuracy.png",
}
NARROW_FIGURES = ("confusion_matrix", "per_genre_accuracy", "top_k_accuracy")
"""Figures shown at most 820 px wide on the page (they read well smaller)."""
SECTION_IDS = ("about", "results", "curves", "confusion", "genre-averages", "track-map", "top-k")

_ACC_KEYS = ("track_accuracy", "mean_track_accuracy", "accuracy", "test_track_accuracy", "acc")
_GRID_ACC_KEYS = (
    "track_accuracy_mean",
    "mean_track_accuracy",
    "mean_accuracy",
    "accuracy_mean",
    "accuracy",
)
_ID_KEYS = ("id", "cell", "cell_id", "name")
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
_DIR_KEYS = ("dir", "path", "folder", "run_dir", "out")
_FOLD_KEYS = ("fold", "index", "k")
_PARTS = ("train", "valid", "test")
KIND_NAMES = {"run": "training run", "cv": "cross-validation", "grid": "grid search"}
KIND_TEXT = {
    "run": "A training run: one model trained on part of the tracks and tested on held-out ones.",
    "cv": "A cross-validation: the same settings trained once per fold, each fold's model "
    "tested on its own held-out tracks.",
    "grid": "A grid search: one cross-validation per combination of settings (a cell).",
}


# --------------------------------------------------------------------------------------------
# Reading the folders
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    """Parse a JSON file; a ValueError names the file when it is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


@dataclass
class RunFolder:
    """What one training run folder holds; each part is None when its file is absent."""

    folder: Path
    metrics: EvaluationResult | None = None
    config: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    history: Path | None = None

    @property
    def model_dir(self) -> Path | None:
        """The saved model folder, when both of its files are there."""
        model = self.folder / "model"
        ok = (model / "config.json").is_file() and (model / "model.safetensors").is_file()
        return model if ok else None

    @property
    def track_accuracy(self) -> float | None:
        """Held-out accuracy per track (per segment when there is no track level)."""
        if self.metrics is None:
            return None
        return _number(self.metrics.headline, ("accuracy",))


def read_run(folder: str | Path) -> RunFolder:
    """Read a ``genrenet train --out`` folder: metrics.json, model/config.json, split.json, log."""
    folder = Path(folder)
    run = RunFolder(folder)
    if (folder / "metrics.json").is_file():
        run.metrics = EvaluationResult.from_json(folder / "metrics.json")
    if (folder / "model" / "config.json").is_file():
        config = _read_json(folder / "model" / "config.json")
        run.config = config if isinstance(config, dict) else None
    if (folder / "split.json").is_file():
        split = _read_json(folder / "split.json")
        run.split = split if isinstance(split, dict) else None
    log = folder / "logs" / "metrics.csv"
    run.history = log if log.is_file() else None
    return run


def _number(row: Mapping[str, Any] | None, keys: Sequence[str]) -> float | None:
    """The first of ``keys`` in ``row`` that holds a finite number (numeric strings count)."""
    if not row:
        return None
    for key in keys:
        value = row.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            return number
    return None


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first of ``keys`` present (and not empty) in ``row``, else None."""
    for key in keys:
        if row.get(key) not in (None, ""):
            return row[key]
    return None


def _index_of(name: str) -> int:
    """The trailing integer of a folder name such as ``fold-3`` (large when there is none)."""
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else 10**9


def fold_dirs(folder: Path) -> list[Path]:
    """The ``fold-K`` subfolders of a cross-validation folder, in fold order."""
    found = [p for p in folder.glob("fold-*") if p.is_dir()]
    return sorted(found, key=lambda p: (_index_of(p.name), p.name))


def pool_metrics(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pool metric dicts of disjoint test sets: summed confusion, n-weighted top-k accuracy.

    Used when a cross-validation folder records no pooled metrics of its own; every figure the
    report draws is exact under pooling (accuracy and recall from the summed confusion matrix).
    """
    if not parts:
        raise ValueError("no metrics to pool")
    labels = list(parts[0]["labels"])
    for p in parts[1:]:
        if list(p["labels"]) != labels:
            raise ValueError(
                f"cannot pool metrics over different genres: {labels} vs {p['labels']}"
            )
    confusion = np.sum([np.asarray(p["confusion"], dtype=np.int64) for p in parts], axis=0)
    n = int(confusion.sum())
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    k = min(len(p["top_k_accuracy"]) for p in parts)
    weights = np.array([float(p["n"]) for p in parts])
    top_k = [
        float(np.average([p["top_k_accuracy"][i] for p in parts], weights=weights))
        for i in range(k)
    ]
    return {
        "n": n,
        "labels": labels,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "top_2_accuracy": top_k[1] if k > 1 else 1.0,
        "top_3_accuracy": top_k[2] if k > 2 else 1.0,
        "top_k_accuracy": top_k,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "balanced_accuracy": float(recall[support > 0].mean()) if np.any(support > 0) else 0.0,
        "per_genre": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "confusion": confusion.astype(int).tolist(),
    }


def _as_metric_dict(value: Any) -> dict[str, Any] | None:
    """A compute_metrics-shaped dict from a metrics dict or an EvaluationResult-shaped dict."""
    if not isinstance(value, dict):
        return None
    if "confusion" in value and "labels" in value:
        return value
    for level in ("track", "segment"):
        if isinstance(value.get(level), dict) and "confusion" in value[level]:
            return value[level]
    return None


@dataclass
class CrossValFolder:
    """A cross-validation folder: settings, one row per fold, the summary and pooled metrics."""

    folder: Path
    settings: dict[str, Any]
    rows: list[dict[str, Any]]
    summary: dict[str, tuple[float, float]]
    pooled: dict[str, Any] | None
    runs: list[RunFolder | None]
    status: str | None = None
    notes: list[str] = field(default_factory=list)
    leaky: dict[str, Any] | None = None

    def accuracy(self, i: int) -> float | None:
        """Held-out track accuracy of fold ``i`` (from cv.json, else from its metrics.json)."""
        value = _number(self.rows[i], _ACC_KEYS)
        if value is None and self.runs[i] is not None:
            value = self.runs[i].track_accuracy
        return value

    def ranked(self) -> list[int]:
        """Fold positions with an accuracy, best first (ties keep fold order)."""
        known = [i for i in range(len(self.rows)) if self.accuracy(i) is not None]
        return sorted(known, key=lambda i: -float(self.accuracy(i)))

    def first_run(self) -> RunFolder | None:
        """The run folder of the first fold present."""
        return next((r for r in self.runs if r is not None), None)


def _summary(data: Any) -> dict[str, tuple[float, float]]:
    """``{metric: (mean, std)}`` from cv.json's summary.

    Reads ``{metric_mean, metric_std}`` (crossval.py), ``{metric: {mean, std}}`` and
    ``{mean: {...}, std: {...}}``; a missing std is NaN.
    """
    out: dict[str, tuple[float, float]] = {}
    if not isinstance(data, dict):
        return out
    means, stds = data.get("mean"), data.get("std")
    if isinstance(means, dict):
        stds = stds if isinstance(stds, dict) else {}
        pairs = [(k, means.get(k), stds.get(k)) for k in means]
    else:
        pairs = [
            (k.removesuffix("_mean"), v, data.get(k.removesuffix("_mean") + "_std"))
            for k, v in data.items()
            if k.endswith("_mean")
        ]
        pairs += [(k, v.get("mean"), v.get("std")) for k, v in data.items() if isinstance(v, dict)]
    for key, mean, std in pairs:
        mean_value = _number({"v": mean}, ("v",))
        std_value = _number({"v": std}, ("v",))
        if mean_value is not None:
            out[key] = (mean_value, std_value if std_value is not None else math.nan)
    return out


def _fold_row_from_run(run: RunFolder, fold: int) -> dict[str, Any]:
    """A per-fold row built from a fold's metrics.json (when cv.json lists no rows)."""
    row: dict[str, Any] = {"fold": fold}
    if run.metrics is not None:
        track = run.metrics.track or {}
        row["track_accuracy"] = track.get("accuracy")
        row["track_macro_f1"] = track.get("macro_f1")
        row["segment_accuracy"] = run.metrics.segment.get("accuracy")
        row["test_tracks"] = track.get("n")
    return row


def read_crossval(folder: str | Path) -> CrossValFolder:
    """Read a cross-validation folder: ``cv.json`` and its ``fold-K/`` run folders."""
    folder = Path(folder)
    data = _read_json(folder / "cv.json") if (folder / "cv.json").is_file() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{folder / 'cv.json'}: expected a JSON object")
    settings = _first(data, ("settings", "config"))
    settings = settings if isinstance(settings, dict) else {}
    raw_rows = _first(data, ("folds", "per_fold", "fold_results", "rows"))
    dirs = fold_dirs(folder)
    rows: list[dict[str, Any]] = []
    runs: list[RunFolder | None] = []
    if isinstance(raw_rows, list) and raw_rows:
        for position, raw in enumerate(raw_rows):
            row = dict(raw) if isinstance(raw, dict) else {"value": raw}
            rows.append(row)
            runs.append(_fold_run(folder, row, position, dirs))
    else:
        for position, d in enumerate(dirs):
            run = read_run(d)
            index = _index_of(d.name)
            rows.append(_fold_row_from_run(run, index if index < 10**9 else position + 1))
            runs.append(run)
    pooled = _as_metric_dict(_first(data, ("pooled", "pooled_metrics")))
    if pooled is None:
        parts = [_as_metric_dict(r.metrics.to_dict()) for r in runs if r and r.metrics]
        parts = [p for p in parts if p is not None]
        try:
            pooled = pool_metrics(parts) if parts else None
        except (KeyError, ValueError):
            pooled = None
    summary = _summary(data.get("summary"))
    notes = data.get("notes") if isinstance(data.get("notes"), list) else []
    leaky = data.get("leaky") if isinstance(data.get("leaky"), dict) else None
    status = data.get("status") if isinstance(data.get("status"), str) else None
    return CrossValFolder(folder, settings, rows, summary, pooled, runs, status, notes, leaky)


def _fold_run(
    folder: Path, row: Mapping[str, Any], position: int, dirs: Sequence[Path]
) -> RunFolder | None:
    """The run folder of one fold row: its recorded folder, ``fold-K``, or the K-th fold folder."""
    candidates: list[Path] = []
    named = _first(row, _DIR_KEYS)
    if isinstance(named, str):
        candidates.append(Path(named) if Path(named).is_absolute() else folder / named)
    fold = _first(row, _FOLD_KEYS)
    if isinstance(fold, int | str) and not isinstance(fold, bool):
        candidates.append(folder / f"fold-{fold}")
    if position < len(dirs):
        candidates.append(dirs[position])
    for path in candidates:
        if path.is_dir():
            return read_run(path)
    return None


@dataclass
class GridFolder:
    """A grid folder: one results row per cell and the cells' cross-validation folders."""

    folder: Path
    headers: list[str]
    rows: list[dict[str, str]]
    state: dict[str, Any]
    id_key: str | None
    acc_key: str | None

    def cell_dir(self, i: int) -> Path | None:
        """The folder of row ``i``'s cell, when it exists."""
        if self.id_key is None:
            return None
        path = self.folder / "cells" / str(self.rows[i][self.id_key])
        return path if path.is_dir() else None

    def ranked(self) -> list[int]:
        """Row positions with a mean accuracy, best first (ties keep the file's order)."""
        if self.acc_key is None:
            return []
        known = [i for i, r in enumerate(self.rows) if _number(r, (self.acc_key,)) is not None]
        return sorted(known, key=lambda i: -float(_number(self.rows[i], (self.acc_key,))))


def _grid_rows_from_cells(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Rows built from ``cells/*/cv.json`` summaries when there is no results.csv."""
    rows = []
    for cell in sorted(p for p in (folder / "cells").glob("*") if p.is_dir()):
        cv = read_crossval(cell)
        accs = [cv.accuracy(i) for i in range(len(cv.rows))]
        accs = [a for a in accs if a is not None]
        mean, std = cv.summary.get("track_accuracy", (math.nan, math.nan))
        if not math.isfinite(mean) and accs:
            mean, std = float(np.mean(accs)), float(np.std(accs))
        row = {"cell": cell.name, "folds": str(len(cv.rows))}
        row["mean_accuracy"] = "" if not math.isfinite(mean) else repr(mean)
        row["std_accuracy"] = "" if not math.isfinite(std) else repr(std)
        rows.append(row)
    return ["cell", "folds", "mean_accuracy", "std_accuracy"], rows


def read_grid(folder: str | Path) -> GridFolder:
    """Read a grid folder: ``results.csv`` (else the cells' cv.json files) and ``grid.json``."""
    folder = Path(folder)
    state = _read_json(folder / "grid.json") if (folder / "grid.json").is_file() else {}
    state = state if isinstance(state, dict) else {}
    results = folder / "results.csv"
    if results.is_file():
        with results.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            headers = list(reader.fieldnames or [])
            rows = [dict(r) for r in reader]
        if not headers:
            raise ValueError(f"{results}: empty file, expected a header row and one row per cell")
    else:
        headers, rows = _grid_rows_from_cells(folder)
    id_key = next((k for k in _ID_KEYS if k in headers), None)
    acc_key = next((k for k in _GRID_ACC_KEYS if k in headers), None)
    if acc_key is None:
        acc_key = next((h for h in headers if "mean" in h and "acc" in h), None)
    return GridFolder(folder, headers, rows, state, id_key, acc_key)


def detect_kind(path: Path) -> str:
    """``"grid"``, ``"cv"`` or ``"run"`` from the files present; a ValueError otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such folder")
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder; expected a run, cross-validation or grid folder")
    if (path / "results.csv").is_file() or (path / "grid.json").is_file():
        return "grid"
    if (path / "cv.json").is_file():
        return "cv"
    if (path / "metrics.json").is_file() or (path / "model" / "config.json").is_file():
        return "run"
    if (path / "cells").is_dir():
        return "grid"
    if fold_dirs(path):
        return "cv"
    raise ValueError(
        f"{path}: not a genrenet run, cross-validation or grid folder (expected metrics.json or "
        "model/config.json, cv.json, or results.csv / grid.json)"
    )


# --------------------------------------------------------------------------------------------
# What the report shows
# --------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A table for the page: header, string cells, and an optional CSS class per row."""

    headers: list[str]
    rows: list[list[str]]
    marks: dict[int, str] = field(default_factory=dict)
    caption: str = ""


@dataclass
class ReportPlan:
    """What the report will show, decided from the folder before anything is drawn."""

    kind: str
    folder: Path
    title: str
    results: list[Table | str] = field(default_factory=list)
    curves: list[tuple[str, RunFolder]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    metrics_source: str = ""
    metrics_level: str = ""
    model_run: RunFolder | None = None
    model_source: str = ""
    settings: list[tuple[str, str]] = field(default_factory=list)
    data_hint: str | None = None


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
    return "f1" in key or "loss" in key


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
        ("balanced accuracy", "balanced_accuracy"),
    )
    rows = [[title, format_value(key, metrics.get(key))] for title, key in specs]
    return Table(["metric", column], rows)


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


def _fold_name(cv: CrossValFolder, i: int) -> str:
    """``fold K`` for position ``i`` (K as cv.json or the folder name numbers it)."""
    fold = _first(cv.rows[i], _FOLD_KEYS)
    if fold is None and cv.runs[i] is not None:
        fold = _index_of(cv.runs[i].folder.name)
    return f"fold {fold if fold is not None else i + 1}"


def _plan_crossval(cv: CrossValFolder, plan: ReportPlan) -> None:
    """Results, curves (best and worst fold) and pooled metrics of a cross-validation folder."""
    plan.results.append(_cv_table(cv))
    ranked = cv.ranked()
    if ranked:
        best, worst = ranked[0], ranked[-1]
        text = f"Best fold: {_fold_name(cv, best)} ({cv.accuracy(best):.1%} track accuracy)"
        if worst != best:
            text += f"; worst fold: {_fold_name(cv, worst)} ({cv.accuracy(worst):.1%})"
        plan.results.append(text + ".")
        for label, i in (("best", best), ("worst", worst)):
            run = cv.runs[i]
            if run is not None and (label == "best" or worst != best):
                plan.curves.append((f"{label} fold: {_fold_name(cv, i)}", run))
        plan.model_run = cv.runs[best] or cv.first_run()
        if plan.model_run is not None:
            plan.model_source = f"the model of the best fold ({plan.model_run.folder.name})"
    else:
        plan.model_run = cv.first_run()
    if cv.pooled is not None:
        plan.metrics = cv.pooled
        plan.metrics_source = (
            f"the test tracks of all {len(cv.rows)} folds, pooled ({cv.pooled.get('n')} tracks)"
        )
        plan.metrics_level = f"per track, {len(cv.rows)} folds pooled"
        plan.results.append(_metric_table(cv.pooled, "pooled over folds"))
    if cv.leaky:
        plan.results.append(_leaky_table(cv.leaky))
    if cv.status not in (None, "complete"):
        plan.results.insert(
            0, f"This cross-validation is {cv.status}: {len(cv.rows)} fold(s) so far."
        )
    plan.settings += [(f"cross-validation: {k}", v) for k, v in _shown_settings(cv.settings)]
    plan.settings += [("cross-validation note", str(note)) for note in cv.notes]
    if isinstance(cv.settings.get("data"), str):
        plan.data_hint = cv.settings["data"]


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


def _plan_grid(grid: GridFolder, plan: ReportPlan) -> None:
    """All cells' results, the best and worst cell's first fold, the best cell's pooled metrics."""
    table = _grid_table(grid)
    ranked = grid.ranked()
    if ranked:
        table.marks[ranked[0]] = "best"
        if len(ranked) > 1:
            table.marks[ranked[-1]] = "worst"
    table.caption = "One row per grid cell; mean and std are over the cell's folds."
    plan.results.append(table)
    if not ranked:
        plan.results.append("No cell has a mean accuracy yet: best and worst cannot be chosen.")
        return
    best, worst = ranked[0], ranked[-1]

    def name(i: int) -> str:
        return str(grid.rows[i][grid.id_key]) if grid.id_key else f"row {i + 1}"

    def acc(i: int) -> str:
        return format_value("accuracy", _number(grid.rows[i], (grid.acc_key,)))

    text = f"Best cell: {name(best)} ({acc(best)} mean accuracy)"
    if worst != best:
        text += f"; worst cell: {name(worst)} ({acc(worst)})"
    plan.results.append(text + ".")
    best_cv = None
    for label, i in (("best", best), ("worst", worst)):
        if label == "worst" and worst == best:
            break
        cell = grid.cell_dir(i)
        if cell is None:
            plan.results.append(f"The folder of cell {name(i)} is missing under cells/.")
            continue
        cv = read_crossval(cell)
        run = cv.first_run()
        if label == "best":
            best_cv = cv
        if run is not None:
            plan.curves.append((f"{label} cell {name(i)}, first fold ({run.folder.name})", run))
    if best_cv is not None:
        plan.model_run = best_cv.first_run()
        if plan.model_run is not None:
            fold = plan.model_run.folder.name
            plan.model_source = f"the model of the best cell {name(best)}, first fold ({fold})"
        if best_cv.pooled is not None:
            plan.metrics = best_cv.pooled
            plan.metrics_source = (
                f"the test tracks of the best cell {name(best)}'s {len(best_cv.rows)} folds, "
                f"pooled ({best_cv.pooled.get('n')} tracks)"
            )
            plan.metrics_level = f"best cell, {len(best_cv.rows)} folds pooled"
            plan.results.append(_metric_table(best_cv.pooled, f"best cell {name(best)}, pooled"))
        plan.results.append(f"Per fold of the best cell {name(best)}:")
        plan.results.append(_cv_table(best_cv))
        for key, value in best_cv.settings.items():
            if key == "data" and isinstance(value, str):
                plan.data_hint = value
    spec = grid.state.get("spec") if isinstance(grid.state.get("spec"), dict) else {}
    plan.settings += [(f"grid: {k}", v) for k, v in _shown_settings(spec)]
    for part, title in (("grid", "grid values"), ("fixed", "fixed in the grid")):
        table = spec.get(part)
        if isinstance(table, dict):
            plan.settings += [(f"{title}: {k}", format_value(k, v)) for k, v in table.items()]
    if isinstance(grid.state.get("data"), str):
        plan.data_hint = plan.data_hint or grid.state["data"]


def _part_size(split: Mapping[str, Any], recorded: Mapping[str, Any], part: str) -> Any:
    """Tracks in one part of a split: counted from split.json, else as the model recorded."""
    ids = split.get(part)
    return len(ids) if isinstance(ids, list) else recorded.get(part, "?")


def _run_settings(run: RunFolder) -> list[tuple[str, str]]:
    """Model, features, training and split settings recorded in a run's config and split."""
    out: list[tuple[str, str]] = []
    config = run.config or {}
    arch = config.get("architecture") or {}
    if arch:
        kwargs = arch.get("kwargs") or {}
        extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        out.append(("model", f"{arch.get('name', '?')}" + (f" ({extra})" if extra else "")))
    feats = config.get("features") or {}
    if feats:
        kind = feats.get("kind", "?")
        rows = feats.get("n_mfcc") if kind == "mfcc" else feats.get("n_mels")
        text = (
            f"{kind}, {rows} {'coefficients' if kind == 'mfcc' else 'mel bands'}, "
            f"{feats.get('sample_rate')} Hz, n_fft {feats.get('n_fft')}, "
            f"hop {feats.get('hop_length')}"
        )
        if config.get("patch_seconds") is not None:
            text += f"; patches of {config['patch_seconds']:g} s"
        out.append(("features", text))
    training = config.get("training") or {}
    train_cfg = training.get("config") or {}
    if train_cfg:
        keys = (
            "max_epochs",
            "batch_size",
            "lr",
            "optimizer",
            "crops_per_track",
            "patience",
            "seed",
        )
        shown = ", ".join(f"{k} {train_cfg[k]}" for k in keys if k in train_cfg)
        out.append(("training", shown))
    if training.get("epochs_run") is not None:
        out.append(
            (
                "epochs",
                f"{training['epochs_run']} run; best (lowest validation loss): epoch "
                f"{training.get('best_epoch')}",
            )
        )
    if training.get("data"):
        kind = training.get("source_kind")
        out.append(("data (as recorded)", f"{training['data']}" + (f" ({kind})" if kind else "")))
    split = run.split or {}
    recorded = training.get("split") or {}
    method = split.get("method") or recorded.get("method")
    if method:
        sizes = ", ".join(f"{part} {_part_size(split, recorded, part)}" for part in _PARTS)
        out.append(("split", f"{method} ({sizes} tracks)"))
    notes = split.get("notes") or recorded.get("notes") or []
    for note in notes:
        out.append(("split note", str(note)))
    return out


def plan_report(path: str | Path) -> ReportPlan:
    """Decide what to show for ``path``: a run, a cross-validation or a grid folder."""
    folder = Path(path)
    kind = detect_kind(folder)
    name = folder.resolve().name
    if kind == "run":
        run = read_run(folder)
        plan = ReportPlan(kind, folder, f"Training run: {name}")
        if run.metrics is not None:
            rows = [list(r) for r in run.metrics.summary_rows()]
            plan.results.append(Table(["metric", "per segment", "per track"], rows))
            plan.metrics = run.metrics.headline
            n = plan.metrics.get("n")
            if run.metrics.track is not None:
                plan.metrics_level = "per track"
                plan.metrics_source = f"the run's {n} held-out test tracks"
            else:
                plan.metrics_level = "per segment"
                plan.metrics_source = f"the run's {n} held-out test windows (no per-track figures)"
        plan.curves.append(("this run", run))
        plan.model_run = run
        plan.model_source = "the run's model"
    elif kind == "cv":
        plan = ReportPlan(kind, folder, f"Cross-validation: {name}")
        _plan_crossval(read_crossval(folder), plan)
    else:
        plan = ReportPlan(kind, folder, f"Grid search: {name}")
        _plan_grid(read_grid(folder), plan)
    if plan.model_run is not None:
        plan.settings = _run_settings(plan.model_run) + plan.settings
    return plan


# --------------------------------------------------------------------------------------------
# Data: tracks, genre averages, the track map
# --------------------------------------------------------------------------------------------


def resolve_data(
    plan: ReportPlan, folder: Path, data: str | Path | None
) -> tuple[Path | None, str]:
    """The collection to read (``data`` wins over what the model recorded) and a note on it."""
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such data collection (given with --data)")
        return path, f"data collection given: {path.resolve()}"
    recorded = [plan.data_hint] if plan.data_hint else []
    if plan.model_run is not None and plan.model_run.config:
        recorded.append((plan.model_run.config.get("training") or {}).get("data"))
    recorded = [str(r) for r in recorded if r]
    if not recorded:
        return None, "no data collection is recorded with the results; pass --data to add it"
    for name in recorded:
        raw = Path(name).expanduser()
        places = [raw] if raw.is_absolute() else [raw, folder / raw, folder.parent / raw]
        for place in places:
            if place.exists():
                return place, f"data collection recorded with the results: {place.resolve()}"
    return None, (
        f"the data collection recorded with the results "
        f"({' or '.join(dict.fromkeys(recorded))}) "
        "was not found; pass --data to point at it"
    )


def synthetic_note(root: Path | None) -> str:
    """Whether the collection is synthetic (genrenet's generator leaves a README.txt saying so)."""
    if root is None:
        return "The data collection is not available, so whether it is synthetic is unknown."
    readme = (root if root.is_dir() else root.parent) / "README.txt"
    try:
        first = readme.read_text(encoding="utf-8", errors="replace").lstrip()[:200]
    except OSError:
        first = ""
    if first.upper().startswith("SYNTHETIC"):
        return (
            "The data is SYNTHETIC: clips rendered by genrenet's generator, not real recordings; "
            "figures here test the pipeline, not real-music genre recognition."
        )
    return "The data is a collection of audio files (no synthetic-collection marker found)."


def split_parts(split: Mapping[str, Any] | None) -> dict[str, str]:
    """Track id -> ``train``/``valid``/``test`` from a split.json record."""
    out: dict[str, str] = {}
    for part in _PARTS:
        for track_id in (split or {}).get(part) or []:
            out[str(track_id)] = part
    return out


def _track_id(track: Track) -> str:
    """The id split.json uses for a track (as ``genrenet.data.splits`` writes it)."""
    return track.source_id or str(track.path)


def sample_tracks(
    collection: Collection, per_genre: int, prefer: Iterable[str] = ()
) -> list[Track]:
    """Up to ``per_genre`` tracks of each genre, ids in ``prefer`` (test tracks) first."""
    preferred = set(prefer)
    chosen: list[Track] = []
    for label in collection.labels:
        tracks = [t for t in collection.tracks if t.label == label]
        tracks.sort(key=lambda t: _track_id(t) not in preferred)
        chosen.extend(tracks[:per_genre])
    return chosen


def _load_features(store: Any, tracks: Sequence[Track], workers: int) -> tuple[list, list[str]]:
    """(track, memory-mapped features) of every readable track, and one note per failure."""
    report = store.extract([t.path for t in tracks], workers=workers)
    failed = {s.path: s.reason for s in report.failed}
    loaded = [
        (t, np.load(store.entry_path(t.path), mmap_mode="r"))
        for t in tracks
        if t.path not in failed
    ]
    notes = [f"{path}: {reason}" for path, reason in failed.items()]
    return loaded, notes


def genre_means(loaded: Sequence[tuple[Track, np.ndarray]], frames: int) -> dict[str, np.ndarray]:
    """The mean feature matrix of each genre over its tracks' first ``frames`` frames.

    A track shorter than ``frames`` adds to the columns it has; columns are averaged over the
    tracks that reach them.
    """
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for track, feats in loaded:
        part = np.asarray(feats[:, :frames], dtype=np.float64)
        width = part.shape[1]
        if track.label not in sums:
            sums[track.label] = np.zeros((part.shape[0], frames))
            counts[track.label] = np.zeros(frames)
        sums[track.label][:, :width] += part
        counts[track.label][:width] += 1
    out = {}
    for label in sorted(sums):
        reached = counts[label] > 0
        width = int(np.flatnonzero(reached)[-1]) + 1
        out[label] = (sums[label][:, :width] / counts[label][:width]).astype(np.float32)
    return out


def _mel_ticks(config: Any) -> tuple[list[int], list[str]]:
    """Mel band positions and centre-frequency labels for a log-mel panel's y axis."""
    from genrenet.features.filters import hz_to_mel, mel_to_hz

    top = config.fmax if config.fmax is not None else config.sample_rate / 2
    edges = np.linspace(float(hz_to_mel(config.fmin)), float(hz_to_mel(top)), config.n_mels + 2)
    centres = np.asarray(mel_to_hz(edges))[1:-1]
    ticks, labels = [], []
    for hz in (500, 1000, 2000, 4000, 8000, 16000):
        if centres[0] <= hz <= centres[-1]:
            ticks.append(int(np.argmin(np.abs(centres - hz))))
            labels.append(f"{hz // 1000:d} kHz" if hz >= 1000 else f"{hz} Hz")
    return ticks, labels


def standardise_rows(means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Z-score each row (coefficient) with its mean and std over every genre's matrix together.

    MFCC 0 and 1 are an order of magnitude larger than the rest, so one raw colour scale shows
    little but them; standardised rows keep one shared scale and show how genres differ.
    """
    stacked = np.concatenate([np.asarray(m, dtype=np.float64) for m in means.values()], axis=1)
    mean = stacked.mean(axis=1, keepdims=True)
    std = np.maximum(stacked.std(axis=1, keepdims=True), 1e-9)
    return {g: ((np.asarray(m) - mean) / std).astype(np.float32) for g, m in means.items()}


def plot_genre_averages(
    logmel: Mapping[str, np.ndarray],
    mfcc: Mapping[str, np.ndarray],
    logmel_config: Any,
    counts: Mapping[str, int],
    path: str | Path,
) -> Path:
    """One row per genre: its average log-mel spectrogram (left) and MFCCs (right).

    Each column shares one colour scale so genres compare at a glance: dB for the log-mel
    panels, per-coefficient z-scores (see :func:`standardise_rows`) for the MFCC panels.
    """
    genres = [g for g in sorted(logmel) if g in mfcc]
    if not genres:
        raise ValueError("no genre has both log-mel and MFCC averages")
    mel_lo, mel_hi = np.percentile(np.concatenate([logmel[g].ravel() for g in genres]), [1, 99.5])
    z = standardise_rows({g: mfcc[g] for g in genres})
    z_lim = float(
        min(3.0, np.percentile(np.abs(np.concatenate([v.ravel() for v in z.values()])), 99.5))
    )
    frame_s = logmel_config.hop_length / logmel_config.sample_rate
    shown_s = max(logmel[g].shape[1] for g in genres) * frame_s

    n = len(genres)
    fig = _new_figure(11.0, 1.55 * n + 1.6)
    axes = fig.subplots(n, 2, squeeze=False, sharex=True)
    mel_ticks, mel_labels = _mel_ticks(logmel_config)
    n_coef = z[genres[0]].shape[0]
    coef_ticks = list(range(0, n_coef, 10 if n_coef > 20 else 5))
    images = []
    for row, genre in enumerate(genres):
        panels = (
            (logmel[genre], "log-mel spectrogram", "magma", (mel_lo, mel_hi), "mel band"),
            (z[genre], "MFCC", "RdBu_r", (-z_lim, z_lim), "coefficient"),
        )
        for col, (values, kind, cmap, (lo, hi), ylabel) in enumerate(panels):
            ax = axes[row, col]
            extent = (0.0, values.shape[1] * frame_s, 0.0, float(values.shape[0]))
            image = ax.imshow(
                values, origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi,
                extent=extent, interpolation="nearest",
            )  # fmt: skip
            if col == 0:
                ax.set_yticks([t + 0.5 for t in mel_ticks], mel_labels, fontsize=8)
            else:
                ax.set_yticks(
                    [c + 0.5 for c in coef_ticks], [str(c) for c in coef_ticks], fontsize=8
                )
            ax.set_ylabel(ylabel, fontsize=9)
            ax.set_title(
                f"{genre}  ·  {kind}  (n = {counts.get(genre, 0)})",
                fontsize=10.5, loc="left", fontweight="bold" if col == 0 else "normal",
            )  # fmt: skip
            ax.tick_params(axis="x", labelsize=8)
            if row == n - 1:
                ax.set_xlabel("time (s)", fontsize=9)
            if row == 0:
                images.append(image)
    labels = (
        "mean log-mel power (dB)",
        "mean MFCC, standardised per coefficient over all genres (z-score)",
    )
    for col, (image, label) in enumerate(zip(images, labels, strict=True)):
        bar = fig.colorbar(
            image, ax=axes[:, col], location="bottom", shrink=0.85, aspect=40, pad=0.01
        )
        bar.set_label(label, fontsize=9)
    fig.suptitle(
        f"Average features per genre: the first {round(shown_s, 1):g} s of each track", fontsize=13
    )
    return _save_png_palette(fig, path)


def _save_png_palette(fig: MplFigure, path: str | Path) -> Path:
    """Save ``fig`` as a 256-colour PNG: a quarter of the bytes for dense heat maps, same look."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return _atomic_write(Path(path), out.getvalue())


def track_embeddings(classifier: Classifier, matrices: Sequence[np.ndarray]) -> np.ndarray:
    """One vector per track: the model's ``embed`` averaged over the track's windows."""
    import torch

    from genrenet.patches import sliding_windows

    network = classifier._require_trained()
    network.eval()
    patch = classifier.patch_frames
    out = []
    with torch.no_grad():
        for feats in matrices:
            windows = sliding_windows(np.asarray(feats), patch, patch)
            if len(windows) > MAX_WINDOWS:
                keep = np.linspace(0, len(windows) - 1, MAX_WINDOWS).round().astype(int)
                windows = windows[keep]
            batch = torch.from_numpy(classifier.normalizer(windows)).unsqueeze(1)
            out.append(network.embed(batch).mean(dim=0).numpy())
    return np.stack(out)


def _genre_colours(genres: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per genre (tab10, tab20, then a continuous map)."""
    from matplotlib import colormaps

    n = len(genres)
    if n <= 10:
        cmap = colormaps["tab10"]
        return {g: cmap(i) for i, g in enumerate(genres)}
    if n <= 20:
        cmap = colormaps["tab20"]
        return {g: cmap(i) for i, g in enumerate(genres)}
    cmap = colormaps["turbo"]
    return {g: cmap(i / max(n - 1, 1)) for i, g in enumerate(genres)}


def plot_track_map(
    vectors: np.ndarray,
    genres: Sequence[str],
    parts: Sequence[str | None],
    path: str | Path,
    what: str,
) -> Path:
    """The tracks on the first two principal components, coloured by genre, shaped by split part."""
    from matplotlib.lines import Line2D
    from sklearn.decomposition import PCA

    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ValueError(f"a PCA map needs at least 3 tracks of 2+ dimensions, got {x.shape}")
    x = x - x.mean(axis=0)
    pca = PCA(n_components=2, random_state=0)
    points = pca.fit_transform(x)
    share = pca.explained_variance_ratio_
    labels = sorted(set(genres))
    colours = _genre_colours(labels)
    styles = {
        "train": dict(marker="o", s=26, alpha=0.55, linewidths=0),
        "valid": dict(marker="s", s=30, alpha=0.75, linewidths=0.6, edgecolors="#333333"),
        "test": dict(marker="^", s=64, alpha=0.95, linewidths=0.9, edgecolors="#111111"),
        None: dict(marker="o", s=30, alpha=0.75, linewidths=0),
    }
    names = {
        "train": "train track",
        "valid": "validation track",
        "test": "test track",
        None: "track",
    }
    fig = _new_figure(9.6, 6.6)
    ax = fig.add_subplot()
    genre_arr = np.asarray(genres)
    part_arr = np.asarray([p if p is not None else "" for p in parts])
    present_parts = [p for p in ("train", "valid", None, "test") if np.any(part_arr == (p or ""))]
    for part in present_parts:
        for genre in labels:
            mask = (genre_arr == genre) & (part_arr == (part or ""))
            if np.any(mask):
                ax.scatter(points[mask, 0], points[mask, 1], color=colours[genre], **styles[part])
    ax.set_xlabel(f"PC 1 ({share[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({share[1]:.0%} of variance)")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"Tracks on the first two principal components of {what}", fontsize=12)
    genre_handles = [
        Line2D([], [], marker="o", linestyle="none", markersize=8, color=colours[g], label=g)
        for g in labels
    ]
    legend = fig.legend(
        handles=genre_handles, title="genre", loc="outside right upper", fontsize=9, frameon=False
    )
    legend.get_title().set_fontweight("bold")
    if len(present_parts) > 1 or present_parts != [None]:
        part_handles = [
            Line2D(
                [], [], marker=styles[part]["marker"], linestyle="none", markerfacecolor="white",
                markeredgecolor="#111111", markersize=9 if part == "test" else 7,
                label=names[part],
            )
            for part in present_parts
        ]  # fmt: skip
        legend = fig.legend(
            handles=part_handles, title="split", loc="outside right lower", fontsize=9,
            frameon=False,
        )  # fmt: skip
        legend.get_title().set_fontweight("bold")
    return _save_png(fig, path)


# --------------------------------------------------------------------------------------------
# Writing the page
# --------------------------------------------------------------------------------------------


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


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
max-width:1120px;margin:2rem auto;padding:0 1.2rem;color:#1a1a1a;line-height:1.5;background:#fff}
h1{font-size:1.9rem;margin:0 0 .3rem}h2{font-size:1.35rem;margin-top:2.6rem;
border-bottom:2px solid #e3e8ef;padding-bottom:.3rem}
p.lead{color:#3a3a3a;font-size:1.05rem}nav{background:#f6f8fb;padding:.6rem 1rem;border-radius:6px}
nav a{margin-right:1.1rem;color:#2f6db3;text-decoration:none}nav a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}
th,td{padding:.32rem .75rem;border-bottom:1px solid #e3e8ef;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}th{background:#f1f4f8;font-weight:600}
table.settings td,table.settings th{text-align:left}
table.settings td:first-child{color:#555;white-space:nowrap}
tr.best td{background:#e6f4e6}tr.worst td{background:#fbe9e9}
tr.summary td{font-weight:600;border-top:2px solid #c8d0da}
.scroll{overflow-x:auto}.scroll table{font-size:.88rem}
.scroll th,.scroll td{white-space:nowrap;padding:.32rem .5rem}
caption{caption-side:bottom;text-align:left;color:#666;font-size:.85rem;padding-top:.3rem}
figure{margin:1.4rem 0}figure img{max-width:100%;height:auto;border:1px solid #e3e8ef}
figure.narrow img{max-width:min(100%,820px)}
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}
.missing{background:#fff7e0;border-left:4px solid #e0a800;padding:.55rem 1rem;margin:.8rem 0}
.legend-best{background:#e6f4e6;padding:0 .3rem}.legend-worst{background:#fbe9e9;padding:0 .3rem}
footer{margin-top:3rem;color:#888;font-size:.85rem}
"""


def _html_table(table: Table, css: str = "") -> str:
    """A table as HTML."""
    klass = f' class="{css}"' if css else ""
    out = [f"<table{klass}>"]
    if table.caption:
        out.append(f"<caption>{html.escape(table.caption)}</caption>")
    if table.headers:
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.headers))
        out.append("</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(table.rows):
        mark = table.marks.get(i)
        attr = f' class="{mark}"' if mark else ""
        cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
        out.append(f"<tr{attr}>{cells}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


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


def render_html(title: str, lead: list[str], sections: Sequence[Section]) -> str:
    """The self-contained page: CSS inline, figures as base64 data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="lead">{html.escape(line)}</p>' for line in lead]
    links = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts.append(f"<nav>{links}</nav>")
    for section in sections:
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>')
        for note in section.missing:
            parts.append(f'<p class="missing">{html.escape(note)}</p>')
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            elif isinstance(block, Table) and section.id == "about":
                parts.append(_html_table(block, "settings"))
            elif isinstance(block, Table):
                parts.append(f'<div class="scroll">{_html_table(block)}</div>')
            else:
                data = base64.b64encode(block.path.read_bytes()).decode("ascii")
                narrow = ' class="narrow"' if block.key in NARROW_FIGURES else ""
                parts.append(
                    f'<figure id="fig-{block.key}"{narrow}>'
                    f'<img src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(block.title)}">'
                    f"<figcaption><b>{html.escape(block.title)}.</b> "
                    f"{html.escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("<footer>Written by genrenet report.</footer></body></html>")
    return "\n".join(parts) + "\n"


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


# --------------------------------------------------------------------------------------------
# Building the report
# --------------------------------------------------------------------------------------------


def _curves_section(plan: ReportPlan, out: Path, written: dict[str, Path]) -> Section:
    """Training and validation curves of the best and worst configuration (or of the run)."""
    section = Section("curves", "Training and validation curves")
    if not plan.curves:
        section.missing.append("No training run with a log was found: curves are not available.")
    for i, (label, run) in enumerate(plan.curves[:2]):
        key = "curves_best" if i == 0 else "curves_worst"
        if run.history is None:
            section.missing.append(f"{label}: no logs/metrics.csv in {run.folder}.")
            continue
        try:
            path = plot_training_curves(load_history(run.history), out / FIGURE_FILES[key])
        except ValueError as err:
            section.missing.append(f"{label}: {run.history}: {err}.")
            continue
        written[key] = path
        caption = (
            "Loss and accuracy per epoch on the training crops and the validation tracks; the "
            "dashed line marks the epoch with the lowest validation loss (the kept model)."
        )
        section.blocks.append(Figure(key, path, f"Training curves, {label}", caption))
    return section


def _metrics_sections(plan: ReportPlan, out: Path, written: dict[str, Path]) -> list[Section]:
    """Confusion matrix, per-genre accuracy and top-k accuracy of the headline metrics."""
    confusion = Section("confusion", "Confusion matrix and per-genre accuracy")
    top_k = Section("top-k", "Top-k accuracy")
    metrics = plan.metrics
    if metrics is None:
        note = "No held-out metrics were found (metrics.json or pooled metrics): not available."
        confusion.missing.append(note)
        top_k.missing.append(note)
        return [confusion, top_k]
    source = plan.metrics_source
    level = plan.metrics_level
    tagged = {**metrics, "level": level} if level else dict(metrics)
    if source:
        confusion.blocks.append(f"Figures for {source}.")
    try:
        written["confusion_matrix"] = plot_confusion_matrix(
            metrics["confusion"],
            metrics["labels"],
            out / FIGURE_FILES["confusion_matrix"],
            normalised=True,
            title=f"Confusion matrix{', ' + level if level else ''} (row-normalised)",
        )
        confusion.blocks.append(
            Figure(
                "confusion_matrix",
                written["confusion_matrix"],
                "Confusion matrix",
                "Rows are the true genres, columns the predicted ones; each cell shows the share "
                "of the row's tracks (and their count).",
            )
        )
    except (KeyError, ValueError) as err:
        confusion.missing.append(f"The confusion matrix cannot be drawn: {err}.")
    try:
        written["per_genre_accuracy"] = plot_per_genre_accuracy(
            tagged, out / FIGURE_FILES["per_genre_accuracy"]
        )
        confusion.blocks.append(
            Figure(
                "per_genre_accuracy",
                written["per_genre_accuracy"],
                "Per-genre accuracy",
                "Share of each genre's test tracks classified correctly (recall), best on top; "
                "the dashed line is the overall accuracy.",
            )
        )
        confusion.blocks.append(_per_genre_table(metrics))
    except (KeyError, ValueError) as err:
        confusion.missing.append(f"The per-genre accuracy cannot be drawn: {err}.")
    try:
        written["top_k_accuracy"] = plot_top_k_accuracy(
            tagged, out / FIGURE_FILES["top_k_accuracy"]
        )
        top_k.blocks.append(
            Figure(
                "top_k_accuracy",
                written["top_k_accuracy"],
                "Top-k accuracy",
                f"Share of {source or 'the test tracks'} whose true genre is among the model's "
                "k most probable genres, for k = 1 to 5 (at most the number of genres), against "
                "chance.",
            )
        )
    except (KeyError, ValueError) as err:
        top_k.missing.append(f"Top-k accuracy cannot be drawn: {err}.")
    return [confusion, top_k]


def _data_sections(
    plan: ReportPlan,
    root: Path | None,
    root_note: str,
    out: Path,
    written: dict[str, Path],
    cache: Path | None,
    seconds: float,
    per_genre: int,
    workers: int,
) -> list[Section]:
    """Genre averages and the PCA track map, both computed from the data collection."""
    from genrenet.data import open_collection
    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    averages = Section("genre-averages", "Average log-mel spectrogram and MFCCs per genre")
    track_map = Section("track-map", "Map of the tracks (PCA)")
    if root is None:
        for section in (averages, track_map):
            section.missing.append(f"Not available: {root_note}.")
        return [averages, track_map]
    try:
        collection = open_collection(root)
    except (FileNotFoundError, ValueError) as err:
        for section in (averages, track_map):
            section.missing.append(f"Not available: {err}.")
        return [averages, track_map]
    split = plan.model_run.split if plan.model_run is not None else None
    parts = split_parts(split)
    test_ids = [i for i, p in parts.items() if p == "test"]
    tracks = sample_tracks(collection, per_genre, prefer=test_ids)
    if not tracks:
        for section in (averages, track_map):
            section.missing.append(f"Not available: {root} holds no readable tracks.")
        return [averages, track_map]

    logmel_cfg, mfcc_cfg = FeatureConfig.of_kind("logmel"), FeatureConfig.of_kind("mfcc")
    mel_loaded, failures = _load_features(FeatureStore(logmel_cfg, cache), tracks, workers)
    mfcc_loaded, more = _load_features(FeatureStore(mfcc_cfg, cache), tracks, workers)
    failures = sorted(set(failures) | set(more))
    frames = logmel_cfg.frames_for(seconds)
    counts: dict[str, int] = {}
    for track, _ in mel_loaded:
        counts[track.label] = counts.get(track.label, 0) + 1
    if mel_loaded and mfcc_loaded:
        written["genre_averages"] = plot_genre_averages(
            genre_means(mel_loaded, frames),
            genre_means(mfcc_loaded, mfcc_cfg.frames_for(seconds)),
            logmel_cfg,
            counts,
            out / FIGURE_FILES["genre_averages"],
        )
        averages.blocks.append(
            Figure(
                "genre_averages",
                written["genre_averages"],
                "Average features per genre",
                f"Mean over up to {per_genre} tracks per genre (n per panel) of the first "
                f"{seconds:g} s (or the whole track when shorter): log-mel spectrogram "
                f"({logmel_cfg.n_mels} mel bands, dB) on the left, {mfcc_cfg.n_mfcc} MFCCs on "
                "the right, each coefficient standardised over all genres together (MFCC 0 and "
                "1 would otherwise dwarf the rest); one colour scale per column.",
            )
        )
    else:
        averages.missing.append("No track of the collection could be read.")
    if failures:
        shown = "; ".join(failures[:5]) + (
            f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        )
        averages.missing.append(f"{len(failures)} track(s) could not be read: {shown}.")

    _track_map(plan, track_map, tracks, mel_loaded, parts, out, written, cache, workers)
    return [averages, track_map]


def _track_map(
    plan: ReportPlan,
    section: Section,
    tracks: Sequence[Track],
    mel_loaded: Sequence[tuple[Track, np.ndarray]],
    parts: Mapping[str, str],
    out: Path,
    written: dict[str, Path],
    cache: Path | None,
    workers: int,
) -> None:
    """Fill the track-map section: model embeddings when a model loads, else mean features."""
    from genrenet.classifier import BundleError, Classifier
    from genrenet.data.store import FeatureStore

    model_dir = plan.model_run.model_dir if plan.model_run is not None else None
    loaded: Sequence[tuple[Track, np.ndarray]] = mel_loaded
    vectors = None
    what = "the time-averaged log-mel features"
    caption = "its log-mel features averaged over time"
    if model_dir is None:
        section.missing.append(
            "No trained model was found, so the map uses time-averaged log-mel features."
        )
    else:
        try:
            classifier = Classifier.load(model_dir)
            store = FeatureStore(classifier.feature_config, cache)
            loaded, _ = _load_features(store, tracks, workers)
            vectors = track_embeddings(classifier, [m for _, m in loaded])
            arch = classifier.train_config.model
            what = f"the {arch} model's track embeddings"
            caption = (
                f"the penultimate-layer embedding of {plan.model_source or 'the model'} ({arch}), "
                "averaged over the track's windows"
            )
        except (BundleError, ValueError, RuntimeError) as err:
            section.missing.append(f"The model could not be used ({err}); using mean features.")
            loaded = mel_loaded
    if vectors is None:
        vectors = (
            np.stack([np.asarray(m, dtype=np.float64).mean(axis=1) for _, m in loaded])
            if loaded
            else np.zeros((0, 0))
        )
    if len(loaded) < 3:
        section.missing.append("Fewer than 3 readable tracks: no map.")
        return
    track_parts = [parts.get(_track_id(t)) for t, _ in loaded]
    written["track_map"] = plot_track_map(
        vectors, [t.label for t, _ in loaded], track_parts, out / FIGURE_FILES["track_map"], what
    )
    marked = sum(p == "test" for p in track_parts)
    if parts and not any(track_parts):
        note = "None of these tracks appears in the run's split.json, so no part is marked."
    elif parts:
        note = (
            f"Triangles with a dark edge are the {marked} test tracks the model never trained on."
        )
    else:
        note = "No split.json was found, so train and test tracks are not told apart."
    section.blocks.append(
        Figure(
            "track_map",
            written["track_map"],
            "Tracks on two principal components",
            f"Each point is a track: {caption}, projected onto its first two principal "
            f"components (PCA). {note}",
        )
    )


def build_report(
    path: str | Path,
    out: str | Path | None = None,
    data: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    seconds: float = AVERAGE_SECONDS,
    per_genre: int = TRACKS_PER_GENRE,
    workers: int = 2,
) -> dict[str, Path]:
    """Write ``report.html`` (self-contained), ``report.md`` and the PNGs for a run, CV or grid.

    ``out`` defaults to ``path/report``; ``data`` overrides the collection the model recorded;
    ``cache`` is the feature cache folder. Returns name -> path of every file written.
    """
    folder = Path(path)
    plan = plan_report(folder)
    target = Path(out) if out is not None else folder / REPORT_DIR
    target.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache) if cache is not None else None
    root, root_note = resolve_data(plan, folder, data)
    written: dict[str, Path] = {}

    about = Section("about", "What this is")
    about.blocks.append(KIND_TEXT[plan.kind])
    about.blocks.append(root_note[0].upper() + root_note[1:] + ".")
    if plan.settings:
        if plan.model_source:
            about.blocks.append(f"Model settings from {plan.model_source}.")
        about.blocks.append(Table(["setting", "value"], [[k, v] for k, v in plan.settings]))
    else:
        about.missing.append("No model settings were found (no model/config.json).")

    results = Section("results", "Results")
    if plan.results:
        if any(isinstance(b, Table) and b.marks for b in plan.results) and plan.kind != "run":
            results.blocks.append("Green row: best; red row: worst; bold row: mean ± std.")
        results.blocks.extend(plan.results)
    else:
        results.missing.append("No results were found (metrics.json, cv.json or results.csv).")

    sections = [about, results, _curves_section(plan, target, written)]
    confusion, top_k = _metrics_sections(plan, target, written)
    sections.append(confusion)
    sections.extend(
        _data_sections(
            plan, root, root_note, target, written, cache_dir, seconds, per_genre, workers
        )
    )
    sections.append(top_k)

    lead = [
        f"genrenet report of the {KIND_NAMES[plan.kind]} in {folder.resolve()}.",
        synthetic_note(root),
    ]
    written["html"] = _atomic_write(
        target / HTML_FILE, render_html(plan.title, lead, sections).encode("utf-8")
    )
    written["markdown"] = _atomic_write(
        target / MD_FILE, render_markdown(plan.title, lead, sections, target).encode("utf-8")
    )
    return written
