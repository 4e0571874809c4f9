"""Feature settings: every number that determines a feature matrix (no torch needed to read it)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

FEATURE_KINDS = ("logmel", "mfcc", "musicnn")

#: musicnn's own front end (Pons and Serra 2019): fixed, as its weights were trained on it.
MUSICNN_SETTINGS: dict[str, Any] = {
    "sample_rate": 16000,
    "n_fft": 512,
    "hop_length": 256,
    "n_mels": 96,
    "fmin": 0.0,
    "fmax": None,
    "top_db": None,
}


@dataclass(frozen=True)
class FeatureConfig:
    """Every setting that determines a feature matrix; two equal configs give equal features."""

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    window: str = "hann"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    kind: str = "logmel"
    n_mfcc: int = 40
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        if self.window != "hann":
            raise ValueError(f"window must be 'hann', got {self.window!r}")
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_mfcc"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        nyquist = self.sample_rate / 2
        top = nyquist if self.fmax is None else self.fmax
        if not 0 <= self.fmin < top <= nyquist:
            raise ValueError(
                f"need 0 <= fmin < fmax <= {nyquist:g} Hz, got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")
        if self.kind == "musicnn":
            wrong = {
                k: getattr(self, k) for k, v in MUSICNN_SETTINGS.items() if getattr(self, k) != v
            }
            if wrong:
                raise ValueError(
                    f"musicnn features have fixed settings {MUSICNN_SETTINGS}; got {wrong}"
                )
        if self.top_db is not None and self.top_db <= 0:
            raise ValueError(f"top_db must be positive or None, got {self.top_db}")

    @classmethod
    def of_kind(cls, kind: str) -> FeatureConfig:
        """The standard settings of a feature kind (musicnn's are its own, fixed ones)."""
        if kind == "musicnn":
            return cls(kind=kind, **MUSICNN_SETTINGS)
        return cls(kind=kind)

    @property
    def n_features(self) -> int:
        """Rows of the feature matrix: mel bands or MFCC coefficients."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def frames_for(self, seconds: float) -> int:
        """Number of frames (centred STFT) for a clip of ``seconds``.

        For musicnn this is its own patch rule (librosa's ``time_to_frames`` + 1: 187 frames
        for 3 s), which its weights expect.
        """
        samples = int(round(seconds * self.sample_rate))
        if self.kind == "musicnn":
            return max(0, samples - self.n_fft // 2) // self.hop_length + 1
        return samples // self.hop_length + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature settings: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), also the basis of :meth:`digest`."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        """Parse the output of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def digest(self) -> str:
        """Short stable hash of the settings, used in cache keys."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
