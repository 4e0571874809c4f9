"""Files in, one Prediction per file out: the pipeline genre classifiers and taggers share.

A file is streamed block by block into features, and each window is scored by a network as soon
as its frames are there; the window scores are summed for the song's mean (and listed per window
for a timeline) as they come, so memory does not grow with the song's length. Subclasses say
how windows are laid out (:meth:`WindowedPredictor.window_plan`) and scored
(:meth:`WindowedPredictor.score_windows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrenet import audio
from genrenet.features import FeatureConfig, compute_stream, frontend, stream_features
from genrenet.inference.memory import release_freed_memory
from genrenet.inference.prefetch import map_ahead, stream_ahead
from genrenet.patches import SHORT_INPUT_DEFAULT, short_window, spread_windows


@dataclass
class Prediction:
    """Labels of one file, best first, with an optional per-window timeline (or the error)."""

    path: Path
    top: list[dict[str, float | str]] = field(default_factory=list)
    timeline: list[dict[str, Any]] | None = None
    error: str | None = None
    proba: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``genrenet predict --json`` and ``genrenet tag --json``."""
        data: dict[str, Any] = {"path": str(self.path), "top": self.top, "error": self.error}
        if self.timeline is not None:
            data["timeline"] = self.timeline
        return data


def top_labels(labels: Sequence[str], proba: np.ndarray, k: int) -> list[dict[str, float | str]]:
    """The ``k`` most probable labels, best first, as ``{"label", "score"}`` records."""
    order = np.argsort(-proba)[: max(1, k)]
    return [{"label": labels[i], "score": round(float(proba[i]), 6)} for i in order]


@dataclass(frozen=True)
class WindowPlan:
    """Where a predictor's windows go: ``patch`` frames long, one every ``hop`` frames from 0,
    plus one ending at the last frame when ``end_aligned``; scored ``batch`` at a time. A song
    shorter than one window is made one window as ``short`` says and scored once."""

    patch: int
    hop: int
    end_aligned: bool
    batch: int = 64
    short: str = SHORT_INPUT_DEFAULT
    """How a song shorter than one window becomes one (:data:`genrenet.patches.SHORT_INPUTS`)."""


class WindowScorer:
    """Windows of a feature stream, scored as their frames arrive.

    Feed consecutive feature chunks ``[n_features, frames]``; only the frames of windows not
    yet cut are kept. Batches are the ones the whole matrix would give (same windows, same
    order, ``plan.batch`` at a time), so the scores equal the whole-song ones. ``on_scores``
    gets each batch's scores ``[n, n_labels]`` and start frames as soon as they are computed.
    """

    def __init__(
        self,
        plan: WindowPlan,
        score: Callable[[np.ndarray], np.ndarray],
        on_scores: Callable[[np.ndarray, np.ndarray], None],
    ) -> None:
        self.plan = plan
        self.score = score
        self.on_scores = on_scores
        self.buffer: np.ndarray | None = None
        self.buffer_start = 0  # frame index of buffer[:, 0]
        self.total = 0  # frames fed so far
        self.next_start = 0
        self.last_start = -1
        self.pending: list[np.ndarray] = []
        self.pending_starts: list[int] = []

    def feed(self, chunk: np.ndarray) -> None:
        """Add the next frames; score every full batch of windows they complete."""
        chunk = np.asarray(chunk, dtype=np.float32)
        self.buffer = chunk if self.buffer is None else np.concatenate([self.buffer, chunk], -1)
        self.total += chunk.shape[-1]
        patch, hop = self.plan.patch, self.plan.hop
        while self.next_start + patch <= self.total:
            self._cut(self.next_start)
            self.next_start += hop
        keep_from = max(0, min(self.next_start, self.total - patch))
        if keep_from > self.buffer_start:
            self.buffer = self.buffer[:, keep_from - self.buffer_start :].copy()
            self.buffer_start = keep_from

    def finish(self) -> int:
        """Cut the last windows (end-aligned, or one tiled window for a short song), score what
        is pending; returns the number of frames seen."""
        if self.buffer is None or self.total == 0:
            raise ValueError("no feature frames to score")
        patch = self.plan.patch
        if self.total < patch:
            self._cut(0, short_window(self.buffer, patch, self.plan.short))
        elif self.plan.end_aligned and self.last_start != self.total - patch:
            self._cut(self.total - patch)
        self._flush()
        return self.total

    def _cut(self, start: int, window: np.ndarray | None = None) -> None:
        if window is None:
            offset = start - self.buffer_start
            window = self.buffer[:, offset : offset + self.plan.patch]
        self.pending.append(np.array(window, dtype=np.float32))
        self.pending_starts.append(start)
        self.last_start = start
        if len(self.pending) >= self.plan.batch:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        scores = self.score(np.stack(self.pending))
        self.on_scores(np.asarray(scores), np.asarray(self.pending_starts, dtype=np.int64))
        self.pending, self.pending_starts = [], []


class _Summary:
    """Running sums of a song's window scores, and its timeline written as the windows come."""

    def __init__(self, predictor: WindowedPredictor, top_k: int, timeline: bool) -> None:
        cfg = predictor.feature_config
        self.labels = predictor.labels
        self.top_k = top_k
        self.frame_s = cfg.hop_length / cfg.sample_rate
        self.window_s = predictor.window_seconds
        self.sum: np.ndarray | None = None
        self.count = 0
        self.timeline: list[dict[str, Any]] | None = [] if timeline else None

    def add(self, scores: np.ndarray, starts: np.ndarray) -> None:
        """Count one batch of window scores (and list its windows for the timeline)."""
        batch_sum = scores.astype(np.float64).sum(axis=0)
        self.sum = batch_sum if self.sum is None else self.sum + batch_sum
        self.count += len(scores)
        if self.timeline is not None:
            for s, p in zip(starts, scores, strict=True):
                self.timeline.append(
                    {
                        "start": round(float(s * self.frame_s), 3),
                        "end": round(float(s * self.frame_s + self.window_s), 3),
                        "top": top_labels(self.labels, p, self.top_k),
                    }
                )

    def prediction(self, path: Path, n_frames: int) -> Prediction:
        """The song's Prediction: the mean of every window's scores, best labels first."""
        mean = (self.sum / self.count).astype(np.float32)
        pred = Prediction(path, top=top_labels(self.labels, mean, self.top_k), proba=mean)
        if self.timeline is not None:
            total_s = round(float(n_frames * self.frame_s), 3)
            for window in reversed(self.timeline):  # windows past the end: a tiled short song
                if window["end"] <= total_s:
                    break
                window["end"] = total_s
            pred.timeline = self.timeline
        return pred


class WindowedPredictor:
    """Shared prediction over files. Subclasses set ``labels`` and ``feature_config`` and
    implement :meth:`window_plan`, :meth:`score_windows` and :attr:`window_seconds`."""

    labels: list[str]
    feature_config: FeatureConfig
    default_top_k: int = 3
    streams: bool = True
    """Whether :meth:`predict_files` scores windows as features stream in (see there)."""

    @property
    def window_seconds(self) -> float:
        """Length of one scored window, for the timeline."""
        raise NotImplementedError

    @property
    def patch_frames(self) -> int:
        """Frames of one scored window (for ``windows=K``)."""
        raise NotImplementedError

    def window_plan(self, hop_seconds: float | None = None) -> WindowPlan:
        """How windows are laid out and batched (hop ``hop_seconds``, default no overlap)."""
        raise NotImplementedError

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """Scores ``[n, n_labels]`` of a batch of feature windows ``[n, n_features, patch]``."""
        raise NotImplementedError

    def window_scores(
        self, feats: np.ndarray, hop_seconds: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores of each window ``[n_windows, n_labels]`` and the window start frames, for a
        whole feature matrix (the windows and scores :meth:`predict_files` streams)."""
        return self.score_matrix(feats, self.window_plan(hop_seconds))

    def score_matrix(
        self,
        feats: np.ndarray,
        plan: WindowPlan,
        score: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and start frames of the windows of ``plan`` over a whole feature matrix
        (``score``: another scoring of the windows than :meth:`score_windows`, e.g. logits)."""
        scores: list[np.ndarray] = []
        starts: list[np.ndarray] = []

        def keep(batch_scores: np.ndarray, batch_starts: np.ndarray) -> None:
            scores.append(batch_scores)
            starts.append(batch_starts)

        scorer = WindowScorer(plan, score or self.score_windows, keep)
        scorer.feed(feats)
        scorer.finish()
        return np.concatenate(scores), np.concatenate(starts)

    def hop_frames(self, hop_seconds: float | None, patch_frames: int) -> int:
        """Frames between windows: one window (no overlap) unless ``hop_seconds`` is given."""
        if hop_seconds is None:
            return patch_frames
        if hop_seconds <= 0:
            raise ValueError(f"hop must be positive, got {hop_seconds}")
        return max(1, self.feature_config.frames_for(hop_seconds) - 1)

    def _module(self):
        """The front end of :attr:`feature_config`, built once."""
        cfg = self.feature_config
        module = getattr(self, "_frontend", None)
        if module is None or module.config != cfg:
            module = self._frontend = frontend(cfg)
        return module

    def features_of(self, path: str | Path, block_seconds: float = 60.0) -> np.ndarray:
        """Full-length features of a file of any length, streamed block by block."""
        cfg = self.feature_config
        blocks = audio.stream(path, sr=cfg.sample_rate, block_seconds=block_seconds)
        return compute_stream(blocks, cfg, self._module())

    def feature_chunks(self, path: str | Path, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
        """Features of a file of any length as consecutive chunks ``[n_features, frames]``, in
        memory that does not grow with the file (:func:`~genrenet.features.stream_features`);
        short blocks keep the decoding and STFT working set small (a few MB)."""
        cfg = self.feature_config
        module = self._module()
        return stream_features(
            lambda: audio.stream(path, sr=cfg.sample_rate, block_seconds=block_seconds), module
        )

    def predict_proba(
        self, paths: Sequence[str | Path], hop_seconds: float | None = None
    ) -> np.ndarray:
        """``[n_files, n_genres]`` probabilities (labels in :attr:`labels` order); a
        file that cannot be read raises :class:`~genrenet.errors.AudioError`."""
        rows = []
        for pred in self.predict_files(paths, top_k=1, hop_seconds=hop_seconds):
            if pred.error is not None:
                raise audio.AudioError(pred.path, pred.error)
            rows.append(pred.proba)
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)), np.float32)

    def predict(
        self, paths: Sequence[str | Path] | str | Path, hop_seconds: float | None = None
    ) -> list[str]:
        """The most likely genre of each file."""
        if isinstance(paths, str | Path):
            paths = [paths]
        proba = self.predict_proba(list(paths), hop_seconds)
        return [self.labels[i] for i in proba.argmax(axis=1)]

    def predict_file(
        self,
        path: str | Path,
        top_k: int | None = None,
        hop_seconds: float | None = None,
        timeline: bool = False,
    ) -> Prediction:
        """Labels of one file (mean of window scores); errors are captured, not raised."""
        return next(self.predict_files([path], top_k, hop_seconds, timeline, workers=1))

    def predict_files(
        self,
        paths: Sequence[str | Path],
        top_k: int | None = None,
        hop_seconds: float | None = None,
        timeline: bool = False,
        workers: int = 2,
        windows: int | None = None,
    ) -> Iterator[Prediction]:
        """Predictions in input order. Each file's features are computed on a thread, a chunk
        at a time, while the network scores the windows already there; the next files are
        decoded ahead on ``workers`` threads. Memory stays bounded however long the songs.

        ``windows=K`` scores only K windows spread evenly over each song (default: every
        window); that, and predictors that do not stream (:attr:`streams` False, e.g. an
        ensemble of models with different front ends), take each song's whole feature matrix.
        """
        paths = [Path(p) for p in paths]
        k = self.default_top_k if top_k is None else top_k
        if windows is not None or not self.streams:
            features = map_ahead(self._features_or_error, paths, workers)
            for path, feats in zip(paths, features, strict=True):
                yield self._summarize(path, feats, k, hop_seconds, timeline, windows)
            return
        plan = self.window_plan(hop_seconds)
        streams = stream_ahead(self.feature_chunks, paths, workers)
        for path, chunks in zip(paths, streams, strict=True):
            yield self._predict_stream(path, chunks, plan, k, timeline)

    def _predict_stream(
        self, path: Path, chunks: Iterable[np.ndarray], plan: WindowPlan, top_k: int, timeline: bool
    ) -> Prediction:
        """Score one file's windows as its feature chunks come; a file that cannot be used
        gives a Prediction carrying the reason (so that a batch goes on with the others)."""
        summary = _Summary(self, top_k, timeline)
        scorer = WindowScorer(plan, self.score_windows, summary.add)
        try:
            for chunk in chunks:
                scorer.feed(chunk)
                release_freed_memory()  # else fragmentation grows the heap with the song
            n_frames = scorer.finish()
        except audio.AudioError as err:
            return Prediction(path, error=err.reason)
        except ValueError as err:
            return Prediction(path, error=str(err))
        return summary.prediction(path, n_frames)

    def _features_or_error(self, path: Path) -> np.ndarray | str:
        """Whole features of ``path``, or the reason in words when the file cannot be used."""
        try:
            return self.features_of(path)
        except audio.AudioError as err:
            return err.reason
        except ValueError as err:
            return str(err)

    def _summarize(
        self,
        path: Path,
        feats: np.ndarray | str,
        top_k: int,
        hop_seconds: float | None,
        timeline: bool,
        windows: int | None = None,
    ) -> Prediction:
        """One file's Prediction from its whole feature matrix (or carry its error): the mean
        of every window's scores, or of ``windows`` evenly spread ones."""
        if isinstance(feats, str):
            return Prediction(path, error=feats)
        if windows is None:
            probs, starts = self.window_scores(feats, hop_seconds)
        else:
            chosen, starts = spread_windows(feats, self.patch_frames, windows)
            probs, _ = self.window_scores(chosen, None)
        summary = _Summary(self, top_k, timeline)
        summary.add(np.asarray(probs), np.asarray(starts))
        return summary.prediction(path, feats.shape[-1])
