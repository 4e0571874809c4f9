"""The report's own figures (genre averages, PCA track map); evaluation.py draws the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrenet.evaluation.plots import DPI, new_figure, save_png
from genrenet.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure


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
    fig = new_figure(11.0, 1.55 * n + 1.6)
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
    return atomic_write(Path(path), out.getvalue())


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
    fig = new_figure(9.6, 6.6)
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
    return save_png(fig, path)
