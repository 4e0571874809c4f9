"""Evaluation of a genre classifier: metrics per segment and per track, and the plots to read them.

Metrics come back as JSON-ready dicts; plots are PNGs drawn with matplotlib's Agg canvas (imported
only when a plot is drawn) and written atomically, so a half-written file is never left behind.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PROBA_CLIP = 1e-7
MAX_TOP_K = 5
DPI = 130
SUMMARY_HEADER = ("metric", "segment", "track")

# Report file names written by write_report.
METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion_matrix.png"
CONFUSION_COUNTS_FILE = "confusion_matrix_counts.png"
PER_GENRE_FILE = "per_genre_accuracy.png"
TOP_K_FILE = "top_k_accuracy.png"
CURVES_FILE = "training_curves.png"

_DARK = "#1a1a1a"
_BLUE = "#2f6db3"
_ORANGE = "#e07b1a"
_LIGHT = "#8fb1dc"


# --------------------------------------------------------------------------------------------
# Metrics
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


def compute_metrics(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, NLL loss, top-k, per-genre precision/recall/F1 and confusion for one set of rows.

    ``y_true`` holds class indices into ``labels``; ``proba`` holds one probability row per item.
    The predicted class is ``argmax`` (first on ties). Returns a JSON-ready dict.
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

    return {
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
    }


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
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        return _atomic_write(Path(path), text.encode("utf-8"))

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
        """Rows of (metric, segment, track) strings for a table; see ``SUMMARY_HEADER``."""
        specs = [
            ("items", "n", "{:d}"),
            ("accuracy", "accuracy", "{:.1%}"),
            ("top-2 accuracy", "top_2_accuracy", "{:.1%}"),
            ("top-3 accuracy", "top_3_accuracy", "{:.1%}"),
            ("macro F1", "macro_f1", "{:.3f}"),
            ("balanced accuracy", "balanced_accuracy", "{:.1%}"),
            ("loss (NLL)", "loss", "{:.3f}"),
        ]
        rows = []
        for title, key, fmt in specs:
            cells = []
            for metrics in (self.segment, self.track):
                value = None if metrics is None else metrics.get(key)
                cells.append("-" if value is None else fmt.format(value))
            rows.append((title, cells[0], cells[1]))
        return rows


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
        track = compute_metrics(track_labels(y, track_index), track_proba, labels)
    return EvaluationResult(segment=segment, track=track, meta=dict(meta or {}))


# --------------------------------------------------------------------------------------------
# Training history
# --------------------------------------------------------------------------------------------

_HISTORY_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


def _to_float(value: Any) -> float:
    """A number from a history cell; blanks and junk become NaN."""
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def merge_history(history: Iterable[Mapping[str, Any]]) -> list[dict[str, float]]:
    """One row per epoch with train/val loss/acc, merging Lightning's separate train and val rows.

    Accepts ``train_loss`` or ``train_loss_epoch`` (likewise for the other keys); for each epoch
    the last finite value of each key wins. Rows without an epoch are skipped.
    """
    merged: dict[int, dict[str, float]] = {}
    for row in history:
        epoch = _to_float(row.get("epoch"))
        if not math.isfinite(epoch):
            continue
        out = merged.setdefault(int(epoch), {k: math.nan for k in _HISTORY_KEYS})
        for key in _HISTORY_KEYS:
            for name in (key, f"{key}_epoch"):
                value = _to_float(row.get(name))
                if math.isfinite(value):
                    out[key] = value
    return [{"epoch": float(e), **merged[e]} for e in sorted(merged)]


def load_history(path: str | Path) -> list[dict[str, Any]]:
    """Read a training history: a Lightning ``metrics.csv`` or a JSON list of row dicts."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training history not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: expected a JSON list of objects, one per logged row")
        return rows
    rows = list(csv.DictReader(text.splitlines()))
    if rows and "epoch" not in rows[0]:
        raise ValueError(f"{path}: CSV has no 'epoch' column")
    return rows


def best_epoch(merged: Sequence[Mapping[str, float]]) -> int | None:
    """The epoch with the lowest val loss (or, lacking it, the highest val accuracy)."""
    for key, pick in (("val_loss", np.nanargmin), ("val_acc", np.nanargmax)):
        values = np.array([row[key] for row in merged], dtype=np.float64)
        if np.any(np.isfinite(values)):
            return int(merged[int(pick(values))]["epoch"])
    return None


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:  # plain open: usual permissions, unlike mkstemp's 0600
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot, so no global state or GUI backend is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` to PNG bytes, write them atomically, and release the figure."""
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()
    return _atomic_write(Path(path), buffer.getvalue())


def _percent_axis(ax: Any, axis: str = "y") -> None:
    """Format an axis holding fractions as percentages."""
    from matplotlib.ticker import PercentFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def _level_name(metrics: Mapping[str, Any]) -> str:
    """'per track' / 'per segment' from an optional ``level`` key, else ''."""
    level = metrics.get("level")
    return f" ({level})" if level else ""


def plot_confusion_matrix(
    confusion: Sequence[Sequence[int]] | np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    normalised: bool = True,
    title: str | None = None,
) -> Path:
    """Draw a confusion matrix (rows = true genre) coloured by row share; cells show % or counts.

    Colours are always row-normalised so small genres read as well as large ones; ``normalised``
    picks the cell text: percentages (with counts beneath when there is room) or raw counts.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    n = len(labels)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {counts.shape}")
    if counts.shape[0] != n:
        raise ValueError(f"confusion is {counts.shape[0]}x{counts.shape[0]} but {n} labels given")
    if n < 2 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("confusion needs >= 2 classes of finite, non-negative counts")
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    total = counts.sum()
    accuracy = float(np.trace(counts) / total) if total else 0.0
    is_int = np.all(counts == np.round(counts))

    side = max(4.8, 0.62 * n + 2.6)
    fig = _new_figure(side + 1.1, side)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("share of the true genre's items")
    _percent_axis(bar.ax, "y")

    # The figure grows with n, so cells stay ~0.6-1 inch wide and text size can stay about fixed.
    both = normalised and n <= 10
    size = float(min(12.0, 9.0 + 0.6 * max(0, 6 - n))) + (0.5 if not normalised else 0.0)
    for i in range(n):
        for j in range(n):
            value = counts[i, j]
            colour = "white" if share[i, j] > 0.55 else _DARK
            count_text = f"{int(value)}" if is_int else f"{value:.1f}"
            if normalised:
                if value == 0:
                    text = "0"
                elif both:
                    text = f"{share[i, j]:.0%}\n({count_text})"
                else:
                    text = f"{share[i, j]:.0%}"
            else:
                text = count_text
            weight = "bold" if i == j else "normal"
            alpha = 0.45 if value == 0 else 1.0
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                color=colour,
                fontsize=size,
                fontweight=weight,
                alpha=alpha,
                linespacing=1.05,
            )

    tick_size = 11.0 if n <= 10 else 10.0
    ax.set_xticks(
        range(n),
        [str(x) for x in labels],
        rotation=45,
        ha="right",
        rotation_mode="anchor",
        fontsize=tick_size,
    )
    ax.set_yticks(range(n), [str(x) for x in labels], fontsize=tick_size)
    ax.set_xlabel("predicted genre", fontsize=11)
    ax.set_ylabel("true genre", fontsize=11)
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    if title is None:
        kind = "row-normalised" if normalised else "counts"
        title = f"Confusion matrix ({kind})"
    ax.set_title(f"{title}\naccuracy {accuracy:.1%}, n = {int(total)}", fontsize=12)
    return _save_png(fig, path)


def plot_training_curves(history: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Loss and accuracy per epoch, train vs val, side by side, with the best val epoch marked."""
    rows = merge_history(history)
    if not rows:
        raise ValueError("history has no rows with an 'epoch': nothing to plot")
    epochs = np.array([row["epoch"] for row in rows])
    series = {k: np.array([row[k] for row in rows], dtype=np.float64) for k in _HISTORY_KEYS}
    if not any(np.any(np.isfinite(v)) for v in series.values()):
        raise ValueError(f"history has none of {list(_HISTORY_KEYS)} (or *_epoch) with values")
    best = best_epoch(rows)

    fig = _new_figure(11.5, 4.4)
    axes = fig.subplots(1, 2)
    marker = "o" if len(epochs) <= 40 else None
    panels = (("loss", "loss (cross-entropy)"), ("acc", "accuracy"))
    for ax, (what, ylabel) in zip(axes, panels, strict=True):
        for split, colour in (("train", _BLUE), ("val", _ORANGE)):
            values = series[f"{split}_{what}"]
            ok = np.isfinite(values)
            if np.any(ok):
                ax.plot(
                    epochs[ok],
                    values[ok],
                    color=colour,
                    marker=marker,
                    markersize=3.5,
                    linewidth=1.8,
                    label=split,
                )
        if best is not None:
            ax.axvline(
                best,
                color="#555555",
                linestyle="--",
                linewidth=1.1,
                label=f"best val (epoch {best})",
            )
            values = series[f"val_{what}"]
            at = np.flatnonzero(epochs == best)
            if at.size and np.isfinite(values[at[0]]):
                y = values[at[0]]
                shown = f"{y:.1%}" if what == "acc" else f"{y:.3f}"
                ax.plot(
                    [best],
                    [y],
                    marker="*",
                    markersize=13,
                    color=_ORANGE,
                    markeredgecolor=_DARK,
                    linestyle="none",
                )
                ax.annotate(
                    shown,
                    (best, y),
                    textcoords="offset points",
                    xytext=(7, 7),
                    fontsize=9,
                    color=_DARK,
                )
        if what == "acc":
            _percent_axis(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title("Loss" if what == "loss" else "Accuracy")
        ax.grid(alpha=0.3)
        if len(epochs) > 1:
            ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=9)
    fig.suptitle("Training curves", fontsize=13)
    return _save_png(fig, path)


def _check_metrics(metrics: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Refuse a metrics dict missing the keys a plot needs."""
    missing = [k for k in keys if k not in metrics]
    if missing:
        raise ValueError(f"metrics dict lacks {missing}; pass the output of compute_metrics")


def plot_per_genre_accuracy(
    metrics: Mapping[str, Any], path: str | Path, title: str | None = None
) -> Path:
    """Horizontal bars of per-genre accuracy (recall), best on top, with overall accuracy marked."""
    _check_metrics(metrics, ("per_genre", "accuracy"))
    per = metrics["per_genre"]
    items = sorted(per.items(), key=lambda kv: (kv[1]["recall"], kv[0]))
    names = [name for name, _ in items]
    recall = np.array([row["recall"] for _, row in items], dtype=np.float64)
    support = [int(row["support"]) for _, row in items]
    overall = float(metrics["accuracy"])

    fig = _new_figure(8.0, max(3.0, 0.42 * len(names) + 1.6))
    ax = fig.add_subplot()
    above = recall >= overall
    rows = np.arange(len(names))
    ax.barh(rows[above], recall[above], color=_BLUE, height=0.7, label="genre at/above overall")
    ax.barh(rows[~above], recall[~above], color=_LIGHT, height=0.7, label="genre below overall")
    for i, (r, s) in enumerate(zip(recall, support, strict=True)):
        inside = r > 0.3
        ax.text(
            r - 0.01 if inside else r + 0.01,
            i,
            f"{r:.0%}  (n={s})",
            va="center",
            ha="right" if inside else "left",
            fontsize=9,
            color="white" if inside and above[i] else _DARK,
        )
    ax.axvline(
        overall, color=_ORANGE, linewidth=2, linestyle="--", label=f"overall accuracy {overall:.1%}"
    )
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 1.0)
    _percent_axis(ax, "x")
    ax.set_xlabel("share of the genre's items classified correctly")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14 if len(names) > 6 else -0.25),
        ncol=3,
        fontsize=9,
        frameon=False,
    )
    ax.set_title(title or f"Per-genre accuracy{_level_name(metrics)}")
    return _save_png(fig, path)


def plot_top_k_accuracy(
    metrics: Mapping[str, Any], path: str | Path, title: str | None = None
) -> Path:
    """Bars of top-k accuracy for k = 1..5 (or the number of genres), with chance level k/C."""
    _check_metrics(metrics, ("top_k_accuracy", "labels"))
    values = np.asarray(metrics["top_k_accuracy"], dtype=np.float64)
    if values.size == 0:
        raise ValueError("metrics['top_k_accuracy'] is empty")
    n_classes = len(metrics["labels"])
    ks = np.arange(1, values.size + 1)

    fig = _new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    ax.bar(ks, values, color=_BLUE, width=0.6, label="model")
    ax.plot(ks, values, color=_DARK, linewidth=1.0, marker="o", markersize=3)
    for k, v in zip(ks, values, strict=True):
        ax.text(k, v + 0.015, f"{v:.1%}", ha="center", va="bottom", fontsize=9)
    chance = np.minimum(ks / max(n_classes, 1), 1.0)
    ax.plot(
        ks,
        chance,
        color="#888888",
        linestyle="--",
        marker="_",
        markersize=14,
        label=f"chance (k / {n_classes})",
    )
    ax.set_xticks(ks, [f"top-{k}" for k in ks])
    ax.set_ylim(0, 1.22)
    ax.set_yticks(np.linspace(0, 1, 6))
    _percent_axis(ax)
    ax.set_ylabel("accuracy")
    ax.set_xlabel("true genre among the k most probable")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", ncol=2, fontsize=9)
    ax.set_title(title or f"Top-k accuracy{_level_name(metrics)}")
    return _save_png(fig, path)


def write_report(
    result: EvaluationResult,
    history: Sequence[Mapping[str, Any]] | None,
    out_dir: str | Path,
) -> dict[str, Path]:
    """Write metrics.json and the PNG plots (per track when available) into ``out_dir``.

    Returns name -> path for every file written; ``training_curves`` only when ``history`` is given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    level = "per track" if result.track is not None else "per segment"
    metrics = {**result.headline, "level": level}
    paths = {"metrics": result.to_json(out / METRICS_FILE)}
    paths["confusion_matrix"] = plot_confusion_matrix(
        metrics["confusion"],
        metrics["labels"],
        out / CONFUSION_FILE,
        normalised=True,
        title=f"Confusion matrix, {level} (row-normalised)",
    )
    paths["confusion_matrix_counts"] = plot_confusion_matrix(
        metrics["confusion"],
        metrics["labels"],
        out / CONFUSION_COUNTS_FILE,
        normalised=False,
        title=f"Confusion matrix, {level} (counts)",
    )
    paths["per_genre_accuracy"] = plot_per_genre_accuracy(metrics, out / PER_GENRE_FILE)
    paths["top_k_accuracy"] = plot_top_k_accuracy(metrics, out / TOP_K_FILE)
    if history:
        paths["training_curves"] = plot_training_curves(history, out / CURVES_FILE)
    return paths
