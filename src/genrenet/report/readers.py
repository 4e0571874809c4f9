"""Read run, cross-validation and grid folders into objects, so nothing else parses files."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrenet.evaluation.metrics import EvaluationResult

_ACC_KEYS = ("track_accuracy", "mean_track_accuracy", "accuracy", "test_track_accuracy", "acc")
_GRID_ACC_KEYS = (
    "track_accuracy_mean",
    "mean_track_accuracy",
    "mean_accuracy",
    "accuracy_mean",
    "accuracy",
)
_ID_KEYS = ("id", "cell", "cell_id", "name")
_DIR_KEYS = ("dir", "path", "folder", "run_dir", "out")
_FOLD_KEYS = ("fold", "index", "k")
_PARTS = ("train", "valid", "test")


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
