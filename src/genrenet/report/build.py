"""Build a report: plan it, draw its figures into sections, write the HTML and Markdown pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genrenet.evaluation.plots import (
    plot_confusion_matrix,
    plot_per_genre_accuracy,
    plot_reliability,
    plot_top_k_accuracy,
    plot_training_curves,
)
from genrenet.files import atomic_write
from genrenet.report.collection import (
    _load_features,
    _track_id,
    genre_means,
    sample_tracks,
    split_parts,
    synthetic_note,
    track_embeddings,
)
from genrenet.report.figures import plot_genre_averages, plot_track_map
from genrenet.report.html import render_html
from genrenet.report.markdown import render_markdown
from genrenet.report.page import Figure, Section
from genrenet.report.plan import ReportPlan, plan_report, resolve_data
from genrenet.report.tables import Table, _per_genre_table
from genrenet.training.history import load_history

if TYPE_CHECKING:
    from genrenet.data.tracks import Track


REPORT_DIR = "report"
HTML_FILE = "report.html"
MD_FILE = "report.md"
AVERAGE_SECONDS = 10.0
"""Genre averages use the first this many seconds of each track."""
TRACKS_PER_GENRE = 50
"""At most this many tracks per genre go into the averages and the track map."""
FIGURE_FILES = {
    "curves_best": "training_curves_best.png",
    "curves_worst": "training_curves_worst.png",
    "confusion_matrix": "confusion_matrix.png",
    "per_genre_accuracy": "per_genre_accuracy.png",
    "genre_averages": "genre_averages.png",
    "track_map": "track_map_pca.png",
    "top_k_accuracy": "top_k_accuracy.png",
    "reliability": "reliability.png",
}
KIND_NAMES = {"run": "training run", "cv": "cross-validation", "grid": "grid search"}
KIND_TEXT = {
    "run": "A training run: one model trained on part of the tracks and tested on held-out ones.",
    "cv": "A cross-validation: the same settings trained once per fold, each fold's model "
    "tested on its own held-out tracks.",
    "grid": "A grid search: one cross-validation per combination of settings (a cell).",
}


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
    if metrics.get("reliability"):
        written["reliability"] = plot_reliability(
            {"scores": metrics["reliability"]},
            out / FIGURE_FILES["reliability"],
            title=f"Reliability diagram{', ' + level if level else ''}, n = {metrics['n']}",
            eces={"scores": metrics["ece"]},
        )
        confusion.blocks.append(
            Figure(
                "reliability",
                written["reliability"],
                f"Reliability diagram (ECE {metrics['ece']:.3f}, 15 bins)",
                "Accuracy of the tracks in each bin of top score against the score: on the "
                "diagonal a score of 60% is right 60% of the time; dots are sized by tracks.",
            )
        )
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
        *plan.cautions,
        synthetic_note(root),
    ]
    written["html"] = atomic_write(
        target / HTML_FILE, render_html(plan.title, lead, sections).encode("utf-8")
    )
    written["markdown"] = atomic_write(
        target / MD_FILE, render_markdown(plan.title, lead, sections, target).encode("utf-8")
    )
    return written
