"""Waveform variants of a track (pitch shift, time stretch, white noise): deterministic
transforms that the feature store computes once and caches beside the plain features.

They live in the data layer because the store computes them; :mod:`genrenet.augment` decides
which of them a training run uses.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WAVEFORM_KINDS = ("pitch", "stretch", "noise", "snr")
"""Kinds of :class:`WaveformVariant`: semitones, speed rate, noise amplitude (std), SNR in dB."""


# --- waveform transforms -------------------------------------------------------------------------


def pitch_shift(y: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift the pitch by ``semitones``, keeping the duration (librosa: phase vocoder, resample)."""
    import librosa

    if not math.isfinite(semitones):
        raise ValueError(f"semitones must be finite, got {semitones}")
    out = librosa.effects.pitch_shift(np.asarray(y, dtype=np.float32), sr=sr, n_steps=semitones)
    return out.astype(np.float32, copy=False)


def time_stretch(y: np.ndarray, rate: float) -> np.ndarray:
    """Change the speed keeping the pitch: ``rate`` 2.0 plays twice as fast (half the duration)."""
    import librosa

    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number, got {rate}")
    out = librosa.effects.time_stretch(np.asarray(y, dtype=np.float32), rate=rate)
    return out.astype(np.float32, copy=False)


def add_noise(
    y: np.ndarray,
    rng: np.random.Generator,
    amplitude: float | None = None,
    snr_db: float | None = None,
) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``amplitude``, or at ``snr_db`` dB SNR.

    With ``snr_db`` the drawn noise is rescaled so that ``10 log10(P_signal / P_noise)`` is
    exactly ``snr_db`` (powers as mean squares); a silent signal is returned unchanged.
    """
    if (amplitude is None) == (snr_db is None):
        raise ValueError("give exactly one of amplitude and snr_db")
    y = np.asarray(y, dtype=np.float32)
    noise = rng.standard_normal(y.shape)
    if amplitude is not None:
        if not (math.isfinite(amplitude) and amplitude >= 0):
            raise ValueError(f"noise amplitude must be >= 0, got {amplitude}")
        noise *= amplitude
    else:
        if not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite, got {snr_db}")
        p_signal = float(np.mean(np.square(y, dtype=np.float64)))
        p_drawn = float(np.mean(np.square(noise)))
        if p_signal == 0.0 or p_drawn == 0.0:
            return y.copy()
        noise *= math.sqrt(p_signal / 10 ** (snr_db / 10) / p_drawn)
    return (y + noise).astype(np.float32)


# --- cached waveform variants --------------------------------------------------------------------


def format_number(value: float) -> str:
    """Shortest stable text of a number for ids: 4.0 -> '4', 0.005 -> '0.005'."""
    return f"{value:g}"


@dataclass(frozen=True)
class WaveformVariant:
    """One deterministic waveform augmentation of a track, e.g. ``("pitch", 4.0)``: cacheable.

    ``kind`` is ``pitch`` (semitones), ``stretch`` (speed rate), ``noise`` (white noise of that
    standard deviation) or ``snr`` (white noise at that many dB SNR).
    """

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in WAVEFORM_KINDS:
            raise ValueError(
                f"unknown waveform variant {self.kind!r}; valid: {', '.join(WAVEFORM_KINDS)}"
            )
        object.__setattr__(self, "value", float(self.value))
        v = self.value
        if not math.isfinite(v):
            raise ValueError(f"{self.kind} value must be finite, got {v}")
        if self.kind == "pitch" and v == 0:
            raise ValueError("a pitch shift of 0 semitones is the plain track")
        if self.kind == "stretch" and (v <= 0 or v == 1):
            raise ValueError(f"stretch rate must be positive and not 1, got {v}")
        if self.kind == "noise" and v <= 0:
            raise ValueError(f"noise amplitude must be positive, got {v}")

    @property
    def id(self) -> str:
        """Stable short name used in cache keys and run records: 'pitch+4', 'stretch0.5'."""
        if self.kind == "pitch":
            return f"pitch{self.value:+g}"
        return f"{self.kind}{format_number(self.value)}"

    def apply(self, y: np.ndarray, sr: int, seed: int = 0) -> np.ndarray:
        """The variant of mono signal ``y`` at ``sr`` Hz; ``seed`` fixes the noise (if any)."""
        if self.kind == "pitch":
            return pitch_shift(y, sr, self.value)
        if self.kind == "stretch":
            return time_stretch(y, self.value)
        rng = np.random.default_rng(seed)
        if self.kind == "noise":
            return add_noise(y, rng, amplitude=self.value)
        return add_noise(y, rng, snr_db=self.value)

    def seed_for(self, path: str | os.PathLike) -> int:
        """Seed derived from the resolved path and :attr:`id`: the same file gets the same noise."""
        text = f"{Path(path).resolve()}|{self.id}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
