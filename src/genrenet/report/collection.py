"""Tracks, features and model embeddings from the data collection: the data figures' inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrenet.report.readers import _PARTS

if TYPE_CHECKING:
    from genrenet.classifier import Classifier
    from genrenet.data.tracks import Collection, Track


MAX_WINDOWS = 8
"""At most this many model windows per track are embedded for the track map."""


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
