"""Log-mel and MFCC front ends as ``torch.nn.Module``s that agree with librosa.

Built on ``torch.stft`` with librosa's mel filter bank (Slaney) and an orthonormal DCT-II, so the
same module runs in feature extraction, training, prediction and an exported graph. Defaults follow
the systems genrenet starts from: 22,050 Hz, n_fft 2048, hop 512, 128 mels, 40 MFCCs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import librosa
import numpy as np
import scipy.fft
import torch
from torch import nn

FEATURE_KINDS = ("logmel", "mfcc")


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
        if self.top_db is not None and self.top_db <= 0:
            raise ValueError(f"top_db must be positive or None, got {self.top_db}")

    @property
    def n_features(self) -> int:
        """Rows of the feature matrix: mel bands or MFCC coefficients."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def frames_for(self, seconds: float) -> int:
        """Number of frames (centred STFT) for a clip of ``seconds``."""
        return int(round(seconds * self.sample_rate)) // self.hop_length + 1

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


class LogMel(nn.Module):
    """Waveform ``[batch, samples]`` (or ``[samples]``) to log-mel dB ``[batch, n_mels, frames]``.

    Matches ``librosa.power_to_db(librosa.feature.melspectrogram(...), ref=1.0, top_db=...)``,
    with the ``top_db`` floor taken per clip.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureConfig()
        c = self.config
        window = librosa.filters.get_window(c.window, c.n_fft, fftbins=True)
        self.register_buffer(
            "window", torch.from_numpy(window.astype(np.float32)), persistent=False
        )
        mel = librosa.filters.mel(
            sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax
        )
        self.register_buffer(
            "mel_basis", torch.from_numpy(mel.astype(np.float32)), persistent=False
        )

    def power_mel(self, waveform: torch.Tensor, center: bool = True) -> torch.Tensor:
        """Mel power spectrogram ``[batch, n_mels, frames]`` (librosa's melspectrogram).

        ``center=False`` takes frames from the samples as given (for pre-padded stream chunks).
        """
        c = self.config
        squeeze = waveform.dim() == 1
        x = waveform.unsqueeze(0) if squeeze else waveform
        spec = torch.stft(
            x,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            window=self.window,
            center=center,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.mel_basis, power)
        return mel

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        squeeze = waveform.dim() == 1
        db = power_to_db(self.power_mel(waveform), self.config.top_db)
        return db[0] if squeeze else db


class MFCC(nn.Module):
    """Waveform to MFCCs ``[batch, n_mfcc, frames]`` as ``librosa.feature.mfcc`` (DCT-II, ortho)."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureConfig(kind="mfcc")
        self.logmel = LogMel(self.config)
        dct = scipy.fft.dct(np.eye(self.config.n_mels), type=2, norm="ortho", axis=0)
        dct = dct[: self.config.n_mfcc].astype(np.float32)
        self.register_buffer("dct", torch.from_numpy(dct), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.dct, self.logmel(waveform))


def power_to_db(
    power: torch.Tensor, top_db: float | None = 80.0, amin: float = 1e-10
) -> torch.Tensor:
    """``10 log10(max(power, amin))`` with each clip floored at its peak minus ``top_db``."""
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def frontend(config: FeatureConfig) -> nn.Module:
    """The front-end module for ``config.kind``."""
    return MFCC(config) if config.kind == "mfcc" else LogMel(config)


@torch.no_grad()
def compute(y: np.ndarray, config: FeatureConfig | None = None) -> np.ndarray:
    """Features of one mono clip (or a ``[batch, samples]`` array) as float32 NumPy."""
    config = config or FeatureConfig()
    module = frontend(config)
    return module(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))).numpy()


@torch.no_grad()
def compute_stream(
    blocks: Iterable[np.ndarray],
    config: FeatureConfig | None = None,
    module: nn.Module | None = None,
) -> np.ndarray:
    """Features of a signal given as consecutive blocks (e.g. :func:`genrenet.audio.stream`).

    Equal to :func:`compute` on the concatenated signal, while holding only one block of audio
    at a time: an hour of music needs the mel matrix in memory, not the waveform. Pass the
    ``module`` from :func:`frontend` to reuse its filter bank across many files.
    """
    config = config or (module.config if module is not None else FeatureConfig())
    module = module if module is not None else frontend(config)
    logmel = module.logmel if isinstance(module, MFCC) else module
    n_fft, hop = config.n_fft, config.hop_length
    buffer = np.zeros(n_fft // 2, dtype=np.float32)  # the centred STFT's zero padding
    chunks: list[torch.Tensor] = []

    def take_frames(buf: np.ndarray) -> np.ndarray:
        if len(buf) < n_fft:
            return buf
        n_frames = (len(buf) - n_fft) // hop + 1
        used = buf[: (n_frames - 1) * hop + n_fft]
        chunks.append(logmel.power_mel(torch.from_numpy(np.ascontiguousarray(used)), center=False))
        return buf[n_frames * hop :]

    for block in blocks:
        buffer = take_frames(np.concatenate([buffer, np.asarray(block, dtype=np.float32)]))
    take_frames(np.concatenate([buffer, np.zeros(n_fft // 2, dtype=np.float32)]))
    if not chunks:
        raise ValueError("signal too short for one analysis frame")
    db = power_to_db(torch.cat(chunks, dim=-1), config.top_db)[0]
    if config.kind == "mfcc":
        db = torch.matmul(module.dct, db)
    return db.numpy()
