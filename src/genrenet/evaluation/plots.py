"""Plots of a run: confusion matrices, training curves, per-genre and top-k accuracy, as PNGs
drawn on matplotlib's Agg canvas (imported only when a plot is drawn) and written atomically;
and :func:`write_report`, which writes a run's ``metrics.json`` with all of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrenet.evaluation.metrics import EvaluationResult
from genrenet.files import METRICS_FILE, atomic_write
from genrenet.training.history import HISTORY_KEYS, best_epoch, merge_history

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 130

# Report file names written by write_report.
CONFUSION_FILE = "confusion_matrix.png"
CONFUSION_COUNTS_FILE = "confusion_matrix_counts.png"
PER_GENRE_FILE = "per_genre_accuracy.png"
TOP_K_FILE = "top_k_accuracy.png"
CURVES_FILE = "training_curves.png"
RELIABILITY_FILE = "reliability.png"

_DARK = "#1a1a1a"
_BLUE = "#2f6db3"
_ORANGE = "#e07b1a"
_LIGHT = "#8fb1dc"


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot, so no global state or GUI backend is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` to PNG bytes, write them atomically, and release the figure."""
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()
    return atomic_write(path, buffer.getvalue())


def _percent_axis(ax: Any, axis: str = "y") -> None:
    """Format an axis holding fractions as percentages."""
    from matplotlib.ticker import PercentFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def _fraction_limits(ax: Any, values: np.ndarray, min_span: float = 0.2) -> None:
    """Y limits for accuracies: at least ``min_span`` wide, inside [0, 1] (plus a margin), so a
    single value or a flat curve gets readable, distinct percentage ticks."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        ax.set_ylim(0.0, 1.0)
        return
    lo, hi = float(finite.min()), float(finite.max())
    pad = max((min_span - (hi - lo)) / 2, 0.05 * (hi - lo), 0.02)
    lo, hi = lo - pad, hi + pad
    if lo < 0:
        lo, hi = 0.0, min(1.0, hi - lo)
    if hi > 1:
        lo, hi = max(0.0, lo - (hi - 1)), 1.0
    ax.set_ylim(lo - 0.02, hi + 0.02)


def _value_limits(ax: Any, values: np.ndarray) -> None:
    """Y limits for losses: a margin of 10% of the range, or of the value when the curve is flat
    (one epoch), so ticks stay distinct."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(0.1 * (hi - lo), 0.1 * max(abs(lo), abs(hi)), 1e-3)
    ax.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)


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
    if n < 1 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("confusion needs >= 1 class of finite, non-negative counts")
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    total = counts.sum()
    accuracy = float(np.trace(counts) / total) if total else 0.0
    is_int = np.all(counts == np.round(counts))

    side = max(4.8, 0.62 * n + 2.6)
    fig = new_figure(side + 1.1, side)
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
    return save_png(fig, path)


def plot_training_curves(history: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Loss and accuracy per epoch, train vs val, side by side, with the best val epoch marked."""
    rows = merge_history(history)
    if not rows:
        raise ValueError("history has no rows with an 'epoch': nothing to plot")
    epochs = np.array([row["epoch"] for row in rows])
    series = {k: np.array([row[k] for row in rows], dtype=np.float64) for k in HISTORY_KEYS}
    if not any(np.any(np.isfinite(v)) for v in series.values()):
        raise ValueError(f"history has none of {list(HISTORY_KEYS)} (or *_epoch) with values")
    best = best_epoch(rows)
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(11.5, 4.4)
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
        # Whole epochs on the x axis, half an epoch of margin: one epoch is one centred point,
        # not a point on an axis scaled by 1e-17.
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
        if len(epochs) <= 12:
            ax.set_xticks(epochs, [str(int(e)) for e in epochs])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        shown = np.concatenate([series[f"{split}_{what}"] for split in ("train", "val")])
        if what == "acc":
            _fraction_limits(ax, shown)
        else:
            _value_limits(ax, shown)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=9)
    fig.suptitle("Training curves", fontsize=13)
    return save_png(fig, path)


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

    fig = new_figure(8.0, max(3.0, 0.42 * len(names) + 1.6))
    ax = fig.add_subplot()
    above = recall >= overall
    rows = np.arange(len(names))
    ax.barh(rows[above], recall[above], color=_BLUE, height=0.7, label="genre at/above overall")
    ax.barh(rows[~above], recall[~above], color=_LIGHT, height=0.7, label="genre below overall")
    for i, (r, s) in enumerate(zip(recall, support, strict=True)):
        if s == 0:  # a genre the model knows but the evaluated tracks do not hold
            ax.text(0.01, i, "no tracks of this genre", va="center", ha="left", fontsize=9,
                    color="#777777", style="italic")  # fmt: skip
            continue
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
    return save_png(fig, path)


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

    fig = new_figure(6.4, 4.2)
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
    return save_png(fig, path)


def plot_reliability(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    path: str | Path,
    title: str = "Reliability diagram",
    eces: Mapping[str, float] | None = None,
) -> Path:
    """Accuracy against confidence per bin (a point per non-empty bin, sized by its count) for
    one or more score sets (e.g. before and after calibration), with the diagonal of perfect
    calibration; ``curves`` maps a name to the bins of
    :func:`genrenet.evaluation.calibration.reliability_bins`."""
    if not curves:
        raise ValueError("nothing to plot: no reliability curves")
    fig = new_figure(5.4, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="perfect")
    colours = [_BLUE, _ORANGE, "#3a9a4a", "#9a3a8a"]
    for (name, bins), colour in zip(curves.items(), colours * 4, strict=False):
        used = [b for b in bins if b["count"] > 0]
        conf = [b["confidence"] for b in used]
        acc = [b["accuracy"] for b in used]
        total = sum(b["count"] for b in used) or 1
        sizes = [20 + 400 * b["count"] / total for b in used]
        label = name if eces is None or name not in eces else f"{name} (ECE {eces[name]:.3f})"
        ax.plot(conf, acc, color=colour, linewidth=1.5, label=label)
        ax.scatter(conf, acc, s=sizes, color=colour, alpha=0.6, edgecolors="none")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top score), 15 bins")
    ax.set_ylabel("accuracy in the bin")
    _percent_axis(ax, "x")
    _percent_axis(ax, "y")
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    ax.set_title(title)
    return save_png(fig, path)


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
    if metrics.get("reliability"):
        paths["reliability"] = plot_reliability(
            {"scores": metrics["reliability"]},
            out / RELIABILITY_FILE,
            title=f"Reliability diagram, {level}, n = {metrics['n']}",
            eces={"scores": metrics["ece"]},
        )
    if history:
        paths["training_curves"] = plot_training_curves(history, out / CURVES_FILE)
    return paths
