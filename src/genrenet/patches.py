"""Fixed-length patches of feature matrices: random crops, sliding windows, normalising."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: How a clip shorter than one patch becomes a window: "loop" tiles it along time, "pad" adds
#: the clip's quietest value (silence) after it, "shorter" keeps it as it is (networks that take
#: any length, such as musicnn, which pools over time).
SHORT_INPUTS = ("loop", "pad", "shorter")
SHORT_INPUT_DEFAULT = "loop"


def fit_length(feats: np.ndarray, frames: int) -> np.ndarray:
    """Tile a matrix shorter than ``frames`` along time until it is long enough (else unchanged)."""
    n = feats.shape[-1]
    if n >= frames:
        return feats
    reps = -(-frames // n)
    return np.tile(feats, (1, reps))[:, :frames]


def window_starts(n_frames: int, patch_frames: int, hop_frames: int) -> np.ndarray:
    """Start frames of sliding windows covering the whole matrix; the last one ends at the end."""
    if patch_frames <= 0 or hop_frames <= 0:
        raise ValueError(f"patch and hop must be positive, got {patch_frames}, {hop_frames}")
    if n_frames <= patch_frames:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - patch_frames + 1, hop_frames, dtype=np.int64)
    if starts[-1] != n_frames - patch_frames:
        starts = np.append(starts, n_frames - patch_frames)
    return starts


def spread_starts(n_frames: int, patch_frames: int, k: int) -> np.ndarray:
    """Start frames of ``k`` windows spread evenly over the matrix: the centres of ``k`` equal
    parts (``k = 1`` is the middle of the song); fewer when the song holds fewer windows."""
    if k < 1:
        raise ValueError(f"the number of windows must be at least 1, got {k}")
    if n_frames <= patch_frames:
        return np.zeros(1, dtype=np.int64)
    span = n_frames - patch_frames
    starts = np.round((np.arange(k) + 0.5) / k * span).astype(np.int64)
    return np.unique(starts)


def spread_windows(feats: np.ndarray, patch_frames: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` evenly spread windows put end to end ``[n_features, k * patch]`` (so that a scorer of
    non-overlapping windows sees exactly them), and their start frames in ``feats``."""
    feats = fit_length(np.asarray(feats), patch_frames)
    starts = spread_starts(feats.shape[-1], patch_frames, k)
    windows = windows_at(feats, patch_frames, starts)
    return windows.transpose(1, 0, 2).reshape(feats.shape[0], -1), starts


def sliding_windows(feats: np.ndarray, patch_frames: int, hop_frames: int) -> np.ndarray:
    """All windows ``[n_windows, n_features, patch]`` of a ``[n_features, frames]`` matrix."""
    feats = fit_length(np.asarray(feats), patch_frames)
    return windows_at(feats, patch_frames, window_starts(feats.shape[-1], patch_frames, hop_frames))


def windows_at(feats: np.ndarray, patch_frames: int, starts: np.ndarray) -> np.ndarray:
    """The windows ``[n_windows, n_features, patch]`` starting at ``starts`` (a copy)."""
    view = np.lib.stride_tricks.sliding_window_view(feats, patch_frames, axis=-1)
    return np.ascontiguousarray(view[:, starts].transpose(1, 0, 2))


def short_windows(
    feats: np.ndarray, patch_frames: int, hop_frames: int, mode: str = SHORT_INPUT_DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows and their start frames; a matrix shorter than one patch becomes one
    window as ``mode`` (one of :data:`SHORT_INPUTS`) says."""
    feats = np.asarray(feats)
    if mode not in SHORT_INPUTS:
        raise ValueError(f"short input mode must be one of {SHORT_INPUTS}, got {mode!r}")
    n = feats.shape[-1]
    if n == 0:
        raise ValueError("no feature frames: the audio is empty")
    starts = window_starts(max(n, patch_frames), patch_frames, hop_frames)
    if n >= patch_frames or mode == "loop":
        return sliding_windows(feats, patch_frames, hop_frames), starts
    if mode == "pad":
        padded = np.full((feats.shape[0], patch_frames), feats.min(), dtype=feats.dtype)
        padded[:, :n] = feats
        return padded[None], starts
    return np.ascontiguousarray(feats)[None], starts


def short_window(
    feats: np.ndarray, patch_frames: int, mode: str = SHORT_INPUT_DEFAULT
) -> np.ndarray:
    """The one window ``[n_features, frames]`` of a matrix shorter than a patch, as ``mode``
    (one of :data:`SHORT_INPUTS`) says: looped, padded with its quietest value, or as it is."""
    return short_windows(feats, patch_frames, patch_frames, mode)[0][0]


def random_crop(feats: np.ndarray, patch_frames: int, rng: np.random.Generator) -> np.ndarray:
    """One random ``[n_features, patch_frames]`` crop (tiled first if the track is shorter)."""
    feats = fit_length(feats, patch_frames)
    start = int(rng.integers(0, feats.shape[-1] - patch_frames + 1))
    return np.asarray(feats[:, start : start + patch_frames])


@dataclass
class Normalizer:
    """Per-band mean and standard deviation, computed on training tracks only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, matrices: list[np.ndarray]) -> Normalizer:
        """Statistics over every frame of every matrix (streaming sums, float64)."""
        if not matrices:
            raise ValueError("cannot fit a normaliser on no tracks")
        n_bands = matrices[0].shape[0]
        total = np.zeros(n_bands)
        total_sq = np.zeros(n_bands)
        count = 0
        for m in matrices:
            m64 = np.asarray(m, dtype=np.float64)
            total += m64.sum(axis=1)
            total_sq += np.square(m64).sum(axis=1)
            count += m64.shape[1]
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        return cls(mean.astype(np.float32), np.maximum(std, 1e-5).astype(np.float32))

    @classmethod
    def identity(cls, n_features: int) -> Normalizer:
        """No change (for networks such as musicnn that normalise their input themselves)."""
        return cls(np.zeros(n_features, np.float32), np.ones(n_features, np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalise ``[..., n_features, frames]``."""
        return ((x - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-ready lists."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["std"], np.float32))


def normalizer_for(model: object, matrices: list[np.ndarray]) -> Normalizer:
    """The identity for networks that normalise their own input, else statistics of
    ``matrices`` (the training tracks)."""
    if getattr(model, "own_normalization", False):
        return Normalizer.identity(matrices[0].shape[0])
    return Normalizer.fit(matrices)
