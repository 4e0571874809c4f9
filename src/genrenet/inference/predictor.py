"""Files in, one Prediction per file out: the pipeline genre classifiers and taggers share.

A file is streamed block by block into its full-length features, cut into windows, each window
scored by a network, and the window scores averaged over the song (and listed per window for a
timeline). Subclasses say how windows are scored (:meth:`WindowedPredictor.window_scores`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrenet import audio
from genrenet.features import FeatureConfig, compute_stream, frontend
from genrenet.inference.prefetch import map_ahead
from genrenet.patches import spread_windows


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


class WindowedPredictor:
    """Shared prediction over files. Subclasses set ``labels`` and ``feature_config`` and
    implement :meth:`window_scores` and :attr:`window_seconds`."""

    labels: list[str]
    feature_config: FeatureConfig
    default_top_k: int = 3

    @property
    def window_seconds(self) -> float:
        """Length of one scored window, for the timeline."""
        raise NotImplementedError

    @property
    def patch_frames(self) -> int:
        """Frames of one scored window (for ``windows=K``)."""
        raise NotImplementedError

    def window_scores(
        self, feats: np.ndarray, hop_seconds: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores of each window ``[n_windows, n_labels]`` and the window start frames."""
        raise NotImplementedError

    def hop_frames(self, hop_seconds: float | None, patch_frames: int) -> int:
        """Frames between windows: one window (no overlap) unless ``hop_seconds`` is given."""
        if hop_seconds is None:
            return patch_frames
        if hop_seconds <= 0:
            raise ValueError(f"hop must be positive, got {hop_seconds}")
        return max(1, self.feature_config.frames_for(hop_seconds) - 1)

    def features_of(self, path: str | Path, block_seconds: float = 60.0) -> np.ndarray:
        """Full-length features of a file of any length, streamed block by block."""
        cfg = self.feature_config
        module = getattr(self, "_frontend", None)
        if module is None or module.config != cfg:
            module = self._frontend = frontend(cfg)
        blocks = audio.stream(path, sr=cfg.sample_rate, block_seconds=block_seconds)
        return compute_stream(blocks, cfg, module)

    def _features_or_error(self, path: Path) -> np.ndarray | str:
        """Features of ``path``, or the reason in words when the file cannot be used (so that
        a batch goes on with the other files)."""
        try:
            return self.features_of(path)
        except audio.AudioError as err:
            return err.reason
        except ValueError as err:
            return str(err)

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
        """Predictions in input order; files are decoded a few ahead on ``workers`` threads while
        the network runs, so memory stays bounded. ``windows=K`` scores only K windows spread
        evenly over each song (default: every window)."""
        paths = [Path(p) for p in paths]
        k = self.default_top_k if top_k is None else top_k
        features = map_ahead(self._features_or_error, paths, workers)
        for path, feats in zip(paths, features, strict=True):
            yield self._summarize(path, feats, k, hop_seconds, timeline, windows)

    def _summarize(
        self,
        path: Path,
        feats: np.ndarray | str,
        top_k: int,
        hop_seconds: float | None,
        timeline: bool,
        windows: int | None = None,
    ) -> Prediction:
        """Average one file's window scores (or carry its error); list windows on request."""
        if isinstance(feats, str):
            return Prediction(path, error=feats)
        if windows is None:
            probs, starts = self.window_scores(feats, hop_seconds)
        else:
            chosen, starts = spread_windows(feats, self.patch_frames, windows)
            probs, _ = self.window_scores(chosen, None)
        mean = probs.mean(axis=0)
        pred = Prediction(path, top=top_labels(self.labels, mean, top_k), proba=mean)
        if timeline:
            cfg = self.feature_config
            frame_s = cfg.hop_length / cfg.sample_rate
            total_s = feats.shape[-1] * frame_s
            pred.timeline = [
                {
                    "start": round(float(s * frame_s), 3),
                    "end": round(float(min(s * frame_s + self.window_seconds, total_s)), 3),
                    "top": top_labels(self.labels, p, top_k),
                }
                for s, p in zip(starts, probs, strict=True)
            ]
        return pred
