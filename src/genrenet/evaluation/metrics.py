"""Metrics of a genre classifier per segment (window) and per track: accuracy, loss, top-k,
per-genre precision / recall / F1, macro-F1 and confusion matrices, as JSON-ready dicts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrenet.evaluation.calibration import (
    expected_calibration_error,
    macro_recall_interval,
    reliability_bins,
    wilson_interval,
)
from genrenet.files import write_json

PROBA_CLIP = 1e-7
MAX_TOP_K = 5
SUMMARY_HEADER = ("metric", "segment", "track")

# --------------------------------------------------------------------------------------------


def _check_proba(proba: np.ndarray, name: str = "proba") -> np.ndarray:
    """Return ``proba`` as a float64 [n, C] array of finite, non-negative rows summing to ~1."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, n_classes], got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows: nothing to evaluate")
    if arr.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 classes (columns), got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ValueError(f"{name} has non-finite values (first in row {bad})")
    if np.any(arr < 0):
        bad = int(np.argwhere(arr < 0)[0, 0])
        raise ValueError(f"{name} has negative probabilities (first in row {bad})")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-3
    if np.any(off):
        bad = int(np.argmax(off))
        raise ValueError(
            f"{name} rows must sum to 1 (probabilities, not logits); row {bad} sums to "
            f"{sums[bad]:.6g}"
        )
    return arr


def _whole_floats(arr: np.ndarray) -> bool:
    """True when ``arr`` is a float array of finite whole numbers (labels saved as floats)."""
    if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
        return False
    return bool(np.all(arr == np.round(arr)))


def _check_int_vector(values: np.ndarray, name: str, n: int) -> np.ndarray:
    """Return ``values`` as an int64 vector of length ``n``, refusing floats with fractions."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n} rows of scores")
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not _whole_floats(arr):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def aggregate_tracks(
    window_proba: np.ndarray, track_index: np.ndarray, n_tracks: int | None = None
) -> np.ndarray:
    """Average window probabilities over each whole track: row t is the mean of track t's windows.

    Tracks are numbered ``0..n_tracks-1`` (``n_tracks`` defaults to ``max(track_index) + 1``); a
    track with no windows is an error rather than a silent row of zeros.
    """
    proba = _check_proba(window_proba, "window_proba")
    idx = _check_int_vector(track_index, "track_index", proba.shape[0])
    if np.any(idx < 0):
        raise ValueError(f"track_index must be non-negative, found {int(idx.min())}")
    top = int(idx.max()) + 1
    if n_tracks is None:
        n_tracks = top
    elif top > n_tracks:
        raise ValueError(f"track_index holds track {top - 1} but n_tracks is {n_tracks}")
    counts = np.bincount(idx, minlength=n_tracks)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        shown = ", ".join(str(int(t)) for t in empty[:10])
        more = f" (and {empty.size - 10} more)" if empty.size > 10 else ""
        raise ValueError(f"{empty.size} track(s) have no windows: {shown}{more}")
    sums = np.zeros((n_tracks, proba.shape[1]), dtype=np.float64)
    np.add.at(sums, idx, proba)
    return sums / counts[:, None]


def track_labels(window_labels: np.ndarray, track_index: np.ndarray) -> np.ndarray:
    """The label of each track from its windows' labels; windows of one track must agree."""
    labels = _check_int_vector(window_labels, "window_labels", np.asarray(window_labels).shape[0])
    idx = _check_int_vector(track_index, "track_index", labels.shape[0])
    if labels.size == 0:
        raise ValueError("window_labels is empty: nothing to evaluate")
    if np.any(idx < 0):
        raise ValueError(f"track_index must be non-negative, found {int(idx.min())}")
    n_tracks = int(idx.max()) + 1
    out = np.full(n_tracks, -1, dtype=np.int64)
    out[idx] = labels
    if np.any(out < 0):
        missing = int(np.flatnonzero(out < 0)[0])
        raise ValueError(f"track {missing} has no windows")
    clash = out[idx] != labels
    if np.any(clash):
        t = int(idx[np.argmax(clash)])
        found = sorted({int(v) for v in labels[idx == t]})
        raise ValueError(f"windows of track {t} carry different labels {found}")
    return out


def top_k_accuracies(y_true: np.ndarray, proba: np.ndarray, max_k: int) -> list[float]:
    """Top-k accuracy for k = 1..max_k; ties rank the lower class index first, like ``argmax``."""
    order = np.argsort(-proba, axis=1, kind="stable")
    rank = np.argmax(order == y_true[:, None], axis=1)
    return [float(np.mean(rank < k)) for k in range(1, max_k + 1)]


def compute_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], intervals: bool = False
) -> dict[str, Any]:
    """Accuracy, NLL loss, top-k, per-genre precision/recall/F1, confusion, ECE (15 bins) and
    the reliability diagram's bins for one set of rows.

    ``y_true`` holds class indices into ``labels``; ``proba`` holds one probability row per item.
    The predicted class is ``argmax`` (first on ties). With ``intervals`` (rows are independent
    items such as tracks) it adds 95% intervals: Wilson for accuracy, top-3 and each genre's
    recall, the bootstrap over rows for macro-recall. Returns a JSON-ready dict.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    p = _check_proba(proba)
    n, n_classes = p.shape
    y = _check_int_vector(y_true, "y_true", n)
    names = [str(label) for label in labels]
    if len(names) != n_classes:
        raise ValueError(f"labels has {len(names)} names but proba has {n_classes} columns")
    if len(set(names)) != len(names):
        dupes = sorted({x for x in names if names.count(x) > 1})
        raise ValueError(f"labels must be unique, repeated: {dupes}")
    if np.any((y < 0) | (y >= n_classes)):
        bad = int(y[(y < 0) | (y >= n_classes)][0])
        raise ValueError(f"y_true holds class {bad}, outside 0..{n_classes - 1}")

    pred = np.argmax(p, axis=1)
    classes = list(range(n_classes))
    true_p = np.clip(p[np.arange(n), y], PROBA_CLIP, 1.0)
    loss = float(-np.mean(np.log(true_p)))
    top_k = top_k_accuracies(y, p, min(MAX_TOP_K, n_classes))

    prec, rec, f1, support = precision_recall_fscore_support(
        y, pred, labels=classes, zero_division=0
    )
    confusion = confusion_matrix(y, pred, labels=classes)
    row_sums = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(
        confusion, row_sums, out=np.zeros(confusion.shape, dtype=np.float64), where=row_sums > 0
    )
    present = support > 0

    def at_k(k: int) -> float:
        return top_k[k - 1] if k <= len(top_k) else 1.0

    hits = np.diag(confusion)
    metrics = {
        "n": int(n),
        "labels": names,
        "accuracy": float(np.mean(pred == y)),
        "loss": loss,
        "top_2_accuracy": at_k(2),
        "top_3_accuracy": at_k(3),
        "top_k_accuracy": top_k,
        "macro_precision": float(np.mean(prec)),
        "macro_recall": float(np.mean(rec)),
        "macro_f1": float(np.mean(f1)),
        "balanced_accuracy": float(np.mean(rec[present])),
        "per_genre": {
            name: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "confusion": confusion.astype(int).tolist(),
        "confusion_normalised": normalised.tolist(),
        "ece": expected_calibration_error(p, y),
        "reliability": reliability_bins(p, y),
    }
    if intervals:
        metrics["intervals"] = {
            "method": "95%: Wilson (proportions), bootstrap over tracks (macro-recall)",
            "accuracy": list(wilson_interval(int(hits.sum()), n)),
            "top_3_accuracy": list(wilson_interval(round(at_k(3) * n), n)),
            "balanced_accuracy": list(macro_recall_interval(y, pred, n_classes)),
            "recall": {
                name: list(wilson_interval(int(hits[i]), int(support[i])))
                for i, name in enumerate(names)
            },
        }
    return metrics


@dataclass
class EvaluationResult:
    """Metrics of one evaluation: per segment (window) and per track (windows averaged)."""

    segment: dict[str, Any]
    track: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> dict[str, Any]:
        """The metrics to plot and quote: per track when available, else per segment."""
        return self.track if self.track is not None else self.segment

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with ``segment``, ``track`` and ``meta``."""
        return {"segment": self.segment, "track": self.track, "meta": self.meta}

    def to_json(self, path: str | Path) -> Path:
        """Write the metrics as JSON atomically (temp file, then ``os.replace``)."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path) -> EvaluationResult:
        """Read a result written by :meth:`to_json`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("segment"), dict):
            raise ValueError(f"{path}: not an evaluation result (no 'segment' metrics)")
        return cls(segment=data["segment"], track=data.get("track"), meta=data.get("meta") or {})

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Rows of (metric, segment, track) strings for a table; see ``SUMMARY_HEADER``.
        Figures with a 95% interval (per track) show it in brackets."""
        specs = [
            ("items", "n", "{:d}"),
            ("accuracy", "accuracy", "{:.1%}"),
            ("balanced accuracy (macro-recall)", "balanced_accuracy", "{:.1%}"),
            ("top-2 accuracy", "top_2_accuracy", "{:.1%}"),
            ("top-3 accuracy", "top_3_accuracy", "{:.1%}"),
            ("macro F1", "macro_f1", "{:.3f}"),
            ("loss (NLL)", "loss", "{:.3f}"),
            ("ECE (15 bins)", "ece", "{:.3f}"),
        ]
        rows = []
        for title, key, fmt in specs:
            cells = []
            for metrics in (self.segment, self.track):
                value = None if metrics is None else metrics.get(key)
                cells.append("-" if value is None else fmt.format(value))
                interval = ((metrics or {}).get("intervals") or {}).get(key)
                if interval is not None and value is not None:
                    cells[-1] += f" [{interval[0]:.1%}, {interval[1]:.1%}]"
            rows.append((title, cells[0], cells[1]))
        return rows


def headline(metrics: Mapping[str, Any]) -> str:
    """One line: accuracy and macro-recall with their 95% intervals, and the number of tracks."""
    iv = metrics.get("intervals") or {}

    def fig(key: str) -> str:
        text = f"{metrics[key]:.1%}"
        if key in iv:
            text += f" [{iv[key][0]:.1%}, {iv[key][1]:.1%}]"
        return text

    return (
        f"accuracy {fig('accuracy')}, macro-recall {fig('balanced_accuracy')} "
        f"on {metrics['n']} tracks (95% intervals)"
    )


def evaluate(
    window_proba: np.ndarray,
    window_labels: np.ndarray,
    labels: Sequence[str],
    track_index: np.ndarray | None = None,
    meta: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Metrics per window and, given ``track_index``, per track (mean of its window scores)."""
    y = np.asarray(window_labels)
    segment = compute_metrics(y, window_proba, labels)
    track = None
    if track_index is not None:
        track_proba = aggregate_tracks(window_proba, track_index)
        track = compute_metrics(track_labels(y, track_index), track_proba, labels, intervals=True)
    return EvaluationResult(segment=segment, track=track, meta=dict(meta or {}))


# --------------------------------------------------------------------------------------------
