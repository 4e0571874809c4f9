"""k-fold cross-validation by track (grouped by artist when known), and the leaky contrast.

Tracks are loaded once; each fold is one :func:`genrenet.experiment.train_on_split` call into
``OUT/fold-K``. A finished fold (metrics, model and per-track probabilities on disk) is reused
on a rerun, so an interrupted cross-validation picks up where it stopped. ``leaky=True`` also
trains on a *segment*-level k-fold, where segments of one song sit on both sides, and reports how
much that inflates segment accuracy over the honest track-level figure.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrenet.data import Collection, open_collection
from genrenet.data.splits import Split, carve, kfold_parts, track_id
from genrenet.data.store import FeatureStore
from genrenet.data.tracks import Skipped, Track
from genrenet.evaluation.experiment import LoadedTracks, load_tracks, train_on_split
from genrenet.evaluation.metrics import EvaluationResult, compute_metrics, headline
from genrenet.evaluation.plots import plot_confusion_matrix
from genrenet.files import atomic_write, write_json

if TYPE_CHECKING:
    from genrenet.evaluation.experiment import Estimator

CV_FILE = "cv.json"
CV_MARKDOWN = "cv.md"
PROBA_FILE = "track_proba.json"
CONFUSION_FILE = "confusion_matrix.png"
CONFUSION_COUNTS_FILE = "confusion_matrix_counts.png"
LEAKY_DIR = "leaky"
FOLD_METRICS = (
    "track_accuracy",
    "track_macro_f1",
    "track_top_2_accuracy",
    "track_top_3_accuracy",
    "track_loss",
    "segment_accuracy",
    "segment_macro_f1",
    "segment_loss",
)
"""Per-fold figures summarised as mean and sample standard deviation."""


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------


def make_folds(
    collection: Collection, n_folds: int = 5, seed: int = 0, valid_fraction: float = 0.1
) -> list[Split]:
    """Stratified k-fold by track (grouped by artist when every track has one).

    Fold K tests on the K-th part; about ``valid_fraction`` of all tracks is carved from the
    rest (stratified, and grouped the same way) for early stopping; the remainder trains.
    """
    n = len(collection.tracks)
    if not isinstance(n_folds, int) or n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_folds!r}")
    if n < n_folds:
        raise ValueError(f"{collection.name}: {n} tracks cannot fill {n_folds} folds")
    if not 0 < valid_fraction < 1 - 1 / n_folds:
        raise ValueError(
            f"valid_fraction must be in (0, {1 - 1 / n_folds:.2f}) for {n_folds} folds, "
            f"got {valid_fraction}"
        )
    grouped = collection.has_groups
    notes: list[str] = []
    smallest = min(collection.counts().values())
    parts = kfold_parts(collection, n_folds, seed)
    if smallest < n_folds:
        notes.append(
            f"the smallest genre has {smallest} tracks, fewer than {n_folds} folds: some folds "
            "test none of it"
        )
    if collection.has_splits:
        notes.append(
            "the source's own train/valid/test split is not used: every track is tested once"
        )
    if not grouped and collection.kind == "gtzan":
        notes.append(
            "GTZAN repeats artists and knows no groups: artists straddle folds, so the figures "
            "are optimistic"
        )
    method = "cv-grouped" if grouped else "cv-stratified"
    folds = []
    for k, test in enumerate(parts):
        test_set = set(test)
        rest = [i for i in range(n) if i not in test_set]
        train, valid = carve(
            collection, rest, valid_fraction * n_folds / (n_folds - 1), seed + 1 + k, grouped
        )
        fold_notes = [f"fold {k + 1} of {n_folds}", *notes]
        folds.append(Split(train, valid, sorted(test_set), method, fold_notes))
    return folds


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class FoldResult:
    """One fold: its test tracks' probabilities and the figures train_on_split measured."""

    index: int
    n_train: int
    n_valid: int
    n_test: int
    track: dict[str, Any]
    segment: dict[str, Any]
    track_ids: list[str]
    y_true: np.ndarray
    proba: np.ndarray
    best_epoch: int | None = None
    epochs_run: int | None = None
    reused: bool = False
    run_dir: Path | None = None

    def row(self) -> dict[str, Any]:
        """The fold's line in cv.json and cv.md."""
        row: dict[str, Any] = {
            "fold": self.index,
            "train": self.n_train,
            "valid": self.n_valid,
            "test": self.n_test,
        }
        for name in FOLD_METRICS:
            level, key = name.split("_", 1)
            row[name] = float((self.track if level == "track" else self.segment)[key])
        row.update(best_epoch=self.best_epoch, epochs_run=self.epochs_run, reused=self.reused)
        return row


@dataclass
class CVResult:
    """A cross-validation: settings, per-fold rows, mean ± std, pooled metrics, leaky contrast."""

    settings: dict[str, Any]
    folds: list[FoldResult]
    summary: dict[str, Any]
    pooled: dict[str, Any]
    tracks: list[dict[str, Any]] = field(default_factory=list)
    leaky: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of cv.json."""
        return {
            "status": "complete",
            "settings": self.settings,
            "notes": self.notes,
            "folds": [f.row() for f in self.folds],
            "summary": self.summary,
            "pooled": self.pooled,
            "leaky": self.leaky,
            "tracks": self.tracks,
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
        }

    def to_json(self, path: str | Path) -> Path:
        """Write cv.json atomically."""
        return write_json(Path(path), self.to_dict())


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation (ddof=1) of every FOLD_METRICS column over folds."""
    summary: dict[str, Any] = {"n_folds": len(rows)}
    for name in FOLD_METRICS:
        values = np.array([row[name] for row in rows], dtype=np.float64)
        summary[f"{name}_mean"] = float(values.mean())
        summary[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return summary


def pool(folds: list[FoldResult], labels: list[str]) -> dict[str, Any]:
    """Metrics over every fold's test tracks together (exact: from the saved probabilities).

    Segment figures are pooled from the folds' counts: windows, correct windows, confusion.
    """
    y = np.concatenate([f.y_true for f in folds])
    proba = np.concatenate([f.proba for f in folds])
    track = compute_metrics(y, proba, labels, intervals=True)
    seg_n = sum(int(f.segment["n"]) for f in folds)
    seg_confusion = np.sum([np.asarray(f.segment["confusion"]) for f in folds], axis=0)
    segment = {
        "n": seg_n,
        "accuracy": float(np.trace(seg_confusion) / seg_n),
        "confusion": seg_confusion.astype(int).tolist(),
    }
    return {"track": track, "segment": segment}


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def cross_validate(
    classifier: Estimator,
    data: str | Path | Collection,
    n_folds: int = 5,
    out_dir: str | Path | None = None,
    cache: Path | None = None,
    workers: int = 2,
    seed: int = 0,
    progress: bool = False,
    leaky: bool = False,
    on_fold: Callable[[FoldResult], None] | None = None,
    on_extract: Callable[[Path, str], None] | None = None,
) -> CVResult:
    """k-fold cross-validation of (clones of) ``classifier`` on ``data``, by track.

    With ``out_dir``: one run folder per fold (``fold-K``), ``cv.json``, ``cv.md`` and the pooled
    confusion matrices; finished folds found there are reused, not retrained. ``on_fold`` is
    called after each fold (for progress). ``leaky`` adds the segment-level contrast.
    """
    collection = data if isinstance(data, Collection) else open_collection(data)
    store = FeatureStore(classifier.feature_config, cache)
    loaded = load_tracks(collection, store, workers, on_extract)
    usable = loaded.collection
    if len(usable) < 2:
        raise ValueError(f"{collection.name}: fewer than two readable tracks, nothing to train on")
    folds = make_folds(usable, n_folds, seed)
    source = data.source if isinstance(data, Collection) else str(Path(data).resolve())
    settings = {
        "data": source,
        "model": classifier.train_config.model,
        "model_kwargs": classifier.train_config.model_kwargs,
        "features": classifier.feature_config.to_dict(),
        "train": classifier.train_config.to_dict(),
        "folds": n_folds,
        "seed": seed,
        "split": folds[0].method,
        "tracks": len(usable),
        "labels": usable.labels,
        "leaky": leaky,
    }
    settings = json.loads(json.dumps(settings))  # as cv.json holds it: lists, not tuples
    root = Path(out_dir) if out_dir is not None else None
    if root is not None:
        _check_same_settings(root / CV_FILE, settings)
        root.mkdir(parents=True, exist_ok=True)
        write_json(root / CV_FILE, {"status": "running", "settings": settings})
    results = _run_folds(classifier, loaded, folds, root, progress, source, on_fold)
    rows = [f.row() for f in results]
    by_fold = {i: f.index for f in results for i in folds[f.index - 1].test}
    pooled = pool(results, usable.labels)
    predicted = {
        tid: usable.labels[int(np.argmax(p))]
        for f in results
        for tid, p in zip(f.track_ids, f.proba, strict=True)
    }
    tracks = [
        {
            "id": track_id(usable, i),
            "fold": by_fold[i],
            "label": usable.tracks[i].label,
            "predicted": predicted[track_id(usable, i)],
        }
        for i in range(len(usable))
    ]
    result = CVResult(
        settings,
        results,
        summarise(rows),
        pooled,
        tracks,
        notes=folds[0].notes[1:],
        skipped=list(loaded.skipped),
    )
    if leaky:
        result.leaky = leaky_contrast(
            classifier,
            loaded,
            n_folds,
            seed,
            honest_accuracy=pooled["segment"]["accuracy"],
            out_dir=None if root is None else root / LEAKY_DIR,
            progress=progress,
            source=source,
        )
    if root is not None:
        result.files = write_cv_report(result, root)
    return result


def _check_same_settings(path: Path, settings: dict[str, Any]) -> None:
    """Refuse to mix folds of a cross-validation with other settings into one folder."""
    if not path.is_file():
        return
    try:
        previous = json.loads(path.read_text()).get("settings") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return
    differ = []
    for key in (k for k in settings if k not in ("data", "leaky") and k in previous):
        old, new = previous[key], settings[key]
        if isinstance(old, dict) and isinstance(new, dict):
            subkeys = sorted(set(old) | set(new))
            differ += [
                f"{key}.{s}: {old.get(s)!r} -> {new.get(s)!r}"
                for s in subkeys
                if old.get(s) != new.get(s)
            ]
        elif old != new:
            differ.append(f"{key}: {old!r} -> {new!r}")
    if differ:
        raise ValueError(
            f"{path}: this folder holds a cross-validation with other settings "
            f"({'; '.join(differ)}); choose another output folder or remove it"
        )


def _run_folds(
    classifier: Estimator,
    loaded: LoadedTracks,
    folds: list[Split],
    root: Path | None,
    progress: bool,
    source: str,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> list[FoldResult]:
    """Train and score every fold (or reuse the finished ones under ``root``)."""
    results = []
    for k, fold in enumerate(folds, start=1):
        if root is None:
            with tempfile.TemporaryDirectory(prefix="genrenet-cv-") as tmp:
                result = _train_fold(classifier, loaded, fold, k, Path(tmp), progress, source)
            result.run_dir = None
        else:
            fold_dir = root / f"fold-{k}"
            result = _finished_fold(loaded, fold, k, fold_dir)
            if result is None:
                result = _train_fold(classifier, loaded, fold, k, fold_dir, progress, source)
        results.append(result)
        if on_fold is not None:
            on_fold(result)
    return results


def _train_fold(
    classifier: Estimator,
    loaded: LoadedTracks,
    fold: Split,
    k: int,
    fold_dir: Path,
    progress: bool,
    source: str,
) -> FoldResult:
    """One fold: train a clone, score its test tracks, save their probabilities last."""
    for stale in ("checkpoints", "logs"):  # an interrupted earlier attempt at this fold
        shutil.rmtree(fold_dir / stale, ignore_errors=True)
    (fold_dir / PROBA_FILE).unlink(missing_ok=True)
    clf = classifier.clone()
    outcome = train_on_split(clf, loaded, fold, fold_dir, progress=progress, source=source)
    usable = loaded.collection
    index = {label: i for i, label in enumerate(clf.labels)}
    proba = outcome.test_proba  # per test track, in fold.test order
    y_true = np.array([index[usable.tracks[i].label] for i in fold.test], dtype=np.int64)
    result = FoldResult(
        index=k,
        n_train=len(fold.train),
        n_valid=len(fold.valid),
        n_test=len(fold.test),
        track=outcome.evaluation.track,
        segment=outcome.evaluation.segment,
        track_ids=[track_id(usable, i) for i in fold.test],
        y_true=y_true,
        proba=proba,
        best_epoch=clf.metadata.get("best_epoch"),
        epochs_run=clf.metadata.get("epochs_run"),
        run_dir=fold_dir,
    )
    write_json(
        fold_dir / PROBA_FILE,
        {
            "fold": k,
            "labels": clf.labels,
            "train": result.n_train,
            "valid": result.n_valid,
            "ids": result.track_ids,
            "y_true": y_true.tolist(),
            "proba": proba.tolist(),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
        },
    )
    return result


def _finished_fold(loaded: LoadedTracks, fold: Split, k: int, fold_dir: Path) -> FoldResult | None:
    """The saved result of fold ``k`` when it finished on the same test tracks, else None."""
    needed = [fold_dir / PROBA_FILE, fold_dir / "metrics.json", fold_dir / "model" / "config.json"]
    if not all(p.is_file() for p in needed) or not (fold_dir / "model/model.safetensors").is_file():
        return None
    usable = loaded.collection
    try:
        saved = json.loads(needed[0].read_text())
        metrics = EvaluationResult.from_json(needed[1])
    except (OSError, ValueError):
        return None
    ids = [track_id(usable, i) for i in fold.test]
    if saved.get("ids") != ids or saved.get("labels") != usable.labels or metrics.track is None:
        return None
    return FoldResult(
        index=k,
        n_train=int(saved["train"]),
        n_valid=int(saved["valid"]),
        n_test=len(ids),
        track=metrics.track,
        segment=metrics.segment,
        track_ids=ids,
        y_true=np.asarray(saved["y_true"], dtype=np.int64),
        proba=np.asarray(saved["proba"], dtype=np.float64),
        best_epoch=saved.get("best_epoch"),
        epochs_run=saved.get("epochs_run"),
        reused=True,
        run_dir=fold_dir,
    )


# --------------------------------------------------------------------------------------------
# The leaky contrast
# --------------------------------------------------------------------------------------------


def segment_tracks(loaded: LoadedTracks, patch_frames: int) -> tuple[LoadedTracks, list[int]]:
    """Every track cut into non-overlapping patches, each patch a "track" of its own.

    Returns the segments (views into the cached matrices, no copies) and, for each segment, the
    index of the song it came from. A track shorter than a patch is one segment.
    """
    tracks: list[Track] = []
    matrices: list[np.ndarray] = []
    song: list[int] = []
    usable = loaded.collection
    for i, (track, m) in enumerate(zip(usable.tracks, loaded.matrices, strict=True)):
        n_frames = m.shape[-1]
        starts = range(0, max(1, n_frames - patch_frames + 1), patch_frames)
        for j, start in enumerate(starts):
            matrices.append(m[:, start : start + patch_frames])
            tracks.append(
                Track(
                    path=Path(f"{track.path}#{j}"),
                    label=track.label,
                    source_id=f"{track_id(usable, i)}#{j}",
                )
            )
            song.append(i)
    collection = Collection(f"{usable.name} (segments)", tracks, kind="segments")
    return LoadedTracks(collection, matrices, []), song


def leaky_contrast(
    classifier: Estimator,
    loaded: LoadedTracks,
    n_folds: int,
    seed: int,
    honest_accuracy: float,
    out_dir: Path | None = None,
    progress: bool = False,
    source: str = "",
) -> dict[str, Any]:
    """Segment accuracy of a segment-level k-fold (songs on both sides) vs the honest figure.

    Each segment is exactly one patch, so training crops and test windows are the segments
    themselves (one crop per segment per epoch). ``inflation_pp`` is leaky minus honest
    segment accuracy in percentage points.
    """
    from sklearn.model_selection import StratifiedKFold

    segments, song = segment_tracks(loaded, classifier.patch_frames)
    seg = segments.collection
    labels = np.array([t.label for t in seg.tracks])
    if len(seg) < n_folds:
        raise ValueError(f"{seg.name}: {len(seg)} segments cannot fill {n_folds} folds")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = [sorted(t.tolist()) for _, t in splitter.split(np.zeros(len(seg)), labels)]
    folds = []
    for k, test in enumerate(parts):
        test_set = set(test)
        rest = [i for i in range(len(seg)) if i not in test_set]
        train, valid = carve(seg, rest, 0.1 * n_folds / (n_folds - 1), seed + 1 + k, False)
        folds.append(Split(train, valid, test, "leaky-segments", [f"fold {k + 1} of {n_folds}"]))
    single = classifier.clone(crops_per_track=1)
    results = _run_folds(single, segments, folds, out_dir, progress, source)
    both_sides = sum(
        sum(1 for i in fold.test if song[i] in {song[j] for j in fold.train + fold.valid})
        for fold in folds
    )
    pooled = pool(results, seg.labels)
    leaky_acc = float(pooled["track"]["accuracy"])
    per_fold = [float(r.track["accuracy"]) for r in results]
    return {
        "method": "segment-level stratified k-fold, ignoring tracks",
        "segments": len(seg),
        "segment_frames": classifier.patch_frames,
        "test_segments_with_song_in_training": both_sides / len(seg),
        "per_fold_accuracy": per_fold,
        "leaky_segment_accuracy": leaky_acc,
        "leaky_segment_accuracy_std": float(np.std(per_fold, ddof=1)),
        "honest_segment_accuracy": float(honest_accuracy),
        "inflation_pp": 100.0 * (leaky_acc - float(honest_accuracy)),
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def write_cv_report(result: CVResult, out_dir: Path) -> dict[str, Path]:
    """cv.json, cv.md and the pooled confusion matrices (shares and counts) into ``out_dir``."""
    track = result.pooled["track"]
    files = {
        "cv": result.to_json(out_dir / CV_FILE),
        "markdown": atomic_write(out_dir / CV_MARKDOWN, markdown(result).encode("utf-8")),
    }
    for name, normalised in ((CONFUSION_FILE, True), (CONFUSION_COUNTS_FILE, False)):
        kind = "row-normalised" if normalised else "counts"
        files[name.removesuffix(".png")] = plot_confusion_matrix(
            track["confusion"],
            track["labels"],
            out_dir / name,
            normalised=normalised,
            title=f"Confusion matrix, {result.settings['folds']} folds pooled, per track ({kind})",
        )
    return files


def markdown(result: CVResult) -> str:
    """A Markdown report: one row per fold, mean ± std, pooled figures, the leaky contrast."""
    s = result.settings
    head = [
        f"# Cross-validation: {s['model']} on {s['features']['kind']}",
        "",
        f"{s['folds']} folds ({s['split']}, seed {s['seed']}) over {s['tracks']} tracks of "
        f"{s['data']}; {len(s['labels'])} genres.",
        "",
        "| fold | train | valid | test | track acc | macro F1 | top-2 | top-3 | loss "
        "| segment acc |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cols = (
        "track_accuracy",
        "track_macro_f1",
        "track_top_2_accuracy",
        "track_top_3_accuracy",
        "track_loss",
        "segment_accuracy",
    )
    lines = []
    for fold in result.folds:
        row = fold.row()
        cells = [str(row["fold"]), str(row["train"]), str(row["valid"]), str(row["test"])]
        cells += [_fmt(c, row[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    sm = result.summary
    mean = [f"{_fmt(c, sm[c + '_mean'])} ± {_fmt(c, sm[c + '_std'])}" for c in cols]
    lines.append("| **mean ± std** | | | | " + " | ".join(mean) + " |")
    pooled = result.pooled["track"]
    tail = [
        "",
        f"Pooled over all folds: {headline(pooled)}, macro F1 "
        f"{pooled['macro_f1']:.3f}; split: {result.settings.get('split', 'by track')}; "
        "segment accuracy "
        f"{result.pooled['segment']['accuracy']:.1%} ({result.pooled['segment']['n']} segments).",
    ]
    tail += [f"\nNote: {note}" for note in result.notes]
    if result.leaky:
        lk = result.leaky
        tail += [
            "",
            "## Leaky vs honest",
            "",
            "| split | segment accuracy |",
            "|---|---:|",
            f"| leaky (segments of one song in train and test) | "
            f"{lk['leaky_segment_accuracy']:.1%} |",
            f"| honest (by track) | {lk['honest_segment_accuracy']:.1%} |",
            "",
            f"Inflation: {lk['inflation_pp']:+.1f} percentage points "
            f"({lk['test_segments_with_song_in_training']:.0%} of leaky test segments had their "
            "song in training).",
        ]
    return "\n".join(head + lines + tail) + "\n"


def _fmt(column: str, value: float) -> str:
    return f"{value:.3f}" if column.endswith(("loss", "f1")) else f"{value:.1%}"
