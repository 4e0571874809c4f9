"""Log-mel and MFCC front ends as ``torch.nn.Module``s that agree with librosa.

Built on ``torch.stft`` with the Slaney mel filter bank and an orthonormal DCT-II (the same
matrices as librosa's, see :mod:`genrenet.features.filters`), so one module runs in feature
extraction, training, prediction and an exported graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from genrenet.features.config import FeatureConfig
from genrenet.features.filters import dct_matrix, hann_window, mel_filterbank


class PowerMel(nn.Module):
    """Waveform ``[batch, samples]`` (or ``[samples]``) to mel power ``[batch, n_mels, frames]``:
    ``torch.stft`` with a Hann window, then the Slaney mel filter bank (librosa's melspectrogram).

    The first stage of every front end; each then finishes the power its own way.
    """

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("window", torch.from_numpy(hann_window(c.n_fft)), persistent=False)
        mel = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.fmin, c.fmax)
        self.register_buffer("mel_basis", torch.from_numpy(mel), persistent=False)

    def forward(self, waveform: torch.Tensor, center: bool = True) -> torch.Tensor:
        """``center=False`` takes frames from the samples as given (pre-padded stream chunks)."""
        c = self.config
        x = waveform.unsqueeze(0) if waveform.dim() == 1 else waveform
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
        return torch.matmul(self.mel_basis, power)


class ConvPowerMel(PowerMel):
    """:class:`PowerMel` with the STFT written as a strided ``conv1d`` against windowed cosine
    and sine kernels: the same numbers up to float rounding, made of operators every ONNX
    exporter and runtime knows (``torch.stft``'s complex output does not export everywhere)."""

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__(config)
        n_fft = config.n_fft
        n_bins = n_fft // 2 + 1
        k = np.arange(n_bins)[:, None] * np.arange(n_fft)[None, :]
        angle = 2.0 * np.pi * (k % n_fft) / n_fft  # the modulo keeps the angles exact
        window = hann_window(n_fft).astype(np.float64)
        kernels = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
        self.register_buffer(
            "dft", torch.from_numpy(kernels.astype(np.float32))[:, None, :], persistent=False
        )

    def forward(self, waveform: torch.Tensor, center: bool = True) -> torch.Tensor:
        c = self.config
        x = (waveform.unsqueeze(0) if waveform.dim() == 1 else waveform).unsqueeze(1)
        pad = c.n_fft // 2 if center else 0  # the centred STFT's zero padding, in the conv
        spec = nn.functional.conv1d(x, self.dft, stride=c.hop_length, padding=pad)
        n_bins = c.n_fft // 2 + 1
        power = spec[:, :n_bins].square() + spec[:, n_bins:].square()
        # the filter bank as a 1x1 convolution: shapes an exporter can follow through
        return nn.functional.conv1d(power, self.mel_basis[:, :, None])


class FrontEnd(nn.Module):
    """A feature front end: :class:`PowerMel`, then :meth:`finish` (as torchaudio composes
    ``Spectrogram`` and ``MelScale``). Waveform ``[batch, samples]`` or ``[samples]`` in,
    features ``[batch, n_features, frames]`` (or ``[n_features, frames]``) out."""

    default_kind = "logmel"

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureConfig.of_kind(self.default_kind)
        self.power = PowerMel(self.config)

    @property
    def needs_peak(self) -> bool:
        """Whether :meth:`finish` depends on the whole clip's peak (log-mel's ``top_db`` floor):
        then a stream is finished chunk by chunk only once the peak is known."""
        return False

    def peak_db(self, power: torch.Tensor) -> float:
        """The clip's peak in dB, as :func:`power_to_db` takes it (for chunk-wise finishing)."""
        return float(10.0 * torch.log10(torch.clamp(power, min=AMIN)).amax())

    def finish(self, power: torch.Tensor, peak: float | None = None) -> torch.Tensor:
        """Features from the mel power ``[batch, n_mels, frames]``; ``peak`` (dB) is the whole
        clip's when ``power`` is one chunk of it (see :attr:`needs_peak`)."""
        raise NotImplementedError

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        out = self.finish(self.power(waveform))
        return out[0] if waveform.dim() == 1 else out


class LogMel(FrontEnd):
    """Log-mel dB, as ``librosa.power_to_db(melspectrogram(...), ref=1.0, top_db=...)``, with
    the ``top_db`` floor taken per clip."""

    @property
    def needs_peak(self) -> bool:
        return self.config.top_db is not None

    def finish(self, power: torch.Tensor, peak: float | None = None) -> torch.Tensor:
        return power_to_db(power, self.config.top_db, peak=peak)


class MFCC(FrontEnd):
    """MFCCs as ``librosa.feature.mfcc``: an orthonormal DCT-II of the log-mel dB."""

    default_kind = "mfcc"

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__(config)
        dct = dct_matrix(self.config.n_mfcc, self.config.n_mels)
        self.register_buffer("dct", torch.from_numpy(dct), persistent=False)

    @property
    def needs_peak(self) -> bool:
        return self.config.top_db is not None

    def finish(self, power: torch.Tensor, peak: float | None = None) -> torch.Tensor:
        return torch.matmul(self.dct, power_to_db(power, self.config.top_db, peak=peak))


class MusicnnMel(FrontEnd):
    """musicnn's input: mel power (16 kHz, n_fft 512, hop 256, 96 bands) rounded to float16,
    then ``log10(10000 x + 1)`` in float32, as the original computes it.

    The original casts to float16 and multiplies by a Python int; under NumPy 1.x (which it
    requires, and was trained with) that promotes to float32. Under NumPy 2 the product stays
    float16 and overflows to inf on loud music, which breaks its tags; genrenet keeps the
    trained behaviour.
    """

    default_kind = "musicnn"

    def finish(self, power: torch.Tensor, peak: float | None = None) -> torch.Tensor:
        return musicnn_compress(power)


FRONTENDS: dict[str, type[FrontEnd]] = {"logmel": LogMel, "mfcc": MFCC, "musicnn": MusicnnMel}
"""The front end of each feature kind (:data:`genrenet.features.config.FEATURE_KINDS`)."""


def musicnn_compress(power: torch.Tensor) -> torch.Tensor:
    """``log10(10000 * float16(power) + 1)``: power rounded to float16, the rest in float32."""
    rounded = power.to(torch.float16).to(torch.float32)
    return torch.log10(rounded * 10000 + 1)


AMIN = 1e-10
"""Smallest power :func:`power_to_db` takes the logarithm of."""


def power_to_db(
    power: torch.Tensor,
    top_db: float | None = 80.0,
    amin: float = AMIN,
    peak: float | None = None,
) -> torch.Tensor:
    """``10 log10(max(power, amin))`` with each clip floored at its peak minus ``top_db``
    (``peak`` in dB when ``power`` is one chunk of a longer clip)."""
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if top_db is not None:
        if peak is None:
            top = db.amax(dim=(-2, -1), keepdim=True)
        else:
            top = torch.tensor(peak, dtype=db.dtype)
        db = torch.maximum(db, top - top_db)
    return db


def frontend(config: FeatureConfig, exportable: bool = False) -> FrontEnd:
    """The front-end module for ``config.kind`` (from :data:`FRONTENDS`); ``exportable`` builds
    it on :class:`ConvPowerMel`, for graphs exported to ONNX.

    >>> frontend(FeatureConfig.of_kind("mfcc"))(torch.zeros(22050)).shape  # doctest: +SKIP
    torch.Size([20, 44])
    """
    module = FRONTENDS[config.kind](config)
    if exportable:
        module.power = ConvPowerMel(config)
    return module


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
    module: FrontEnd | None = None,
) -> np.ndarray:
    """Features of a signal given as consecutive blocks (e.g. :func:`genrenet.audio.stream`).

    Equal to :func:`compute` on the concatenated signal, while holding only one block of audio
    at a time: an hour of music needs the mel matrix in memory, not the waveform (to hold
    neither, use :func:`stream_features`). Pass the ``module`` from :func:`frontend` to reuse its
    filter bank across many files.
    """
    config = config or (module.config if module is not None else FeatureConfig())
    module = module if module is not None else frontend(config)
    chunks = list(stream_power(blocks, module))
    return module.finish(torch.cat(chunks, dim=-1))[0].numpy()


@torch.no_grad()
def stream_power(blocks: Iterable[np.ndarray], module: FrontEnd) -> Iterator[torch.Tensor]:
    """Mel power ``[1, n_mels, frames]`` of consecutive signal blocks, chunk by chunk: the
    frames of the centred STFT of the whole signal, in order."""
    config = module.config
    n_fft, hop = config.n_fft, config.hop_length
    buffer = np.zeros(n_fft // 2, dtype=np.float32)  # the centred STFT's zero padding
    produced = False

    def take_frames(buf: np.ndarray) -> tuple[np.ndarray, torch.Tensor | None]:
        if len(buf) < n_fft:
            return buf, None
        n_frames = (len(buf) - n_fft) // hop + 1
        used = buf[: (n_frames - 1) * hop + n_fft]
        power = module.power(torch.from_numpy(np.ascontiguousarray(used)), center=False)
        return buf[n_frames * hop :], power

    for block in blocks:
        buffer, power = take_frames(np.concatenate([buffer, np.asarray(block, dtype=np.float32)]))
        if power is not None:
            produced = True
            yield power
    _, power = take_frames(np.concatenate([buffer, np.zeros(n_fft // 2, dtype=np.float32)]))
    if power is not None:
        yield power
    elif not produced:
        raise ValueError("signal too short for one analysis frame")


PEAK_BUFFER_FRAMES = 1 << 15
"""Mel frames :func:`stream_features` holds while looking for a clip's peak (about 25 min of
log-mel at 22050 Hz / hop 512, 16 MB): a longer song is read twice instead."""


@torch.no_grad()
def stream_features(
    open_blocks: Callable[[], Iterable[np.ndarray]],
    module: FrontEnd,
    buffer_frames: int | None = None,
) -> Iterator[np.ndarray]:
    """Features ``[n_features, frames]`` of a signal, chunk by chunk, in bounded memory.

    The chunks put together equal :func:`compute_stream`. ``open_blocks()`` gives the signal's
    blocks (e.g. ``lambda: audio.stream(path)``). A front end whose output depends on the whole
    clip's peak (:attr:`FrontEnd.needs_peak`) holds up to ``buffer_frames`` of mel power while
    finding it (default :data:`PEAK_BUFFER_FRAMES`); a longer signal is opened a second time
    once the peak is known.
    """
    buffer_frames = PEAK_BUFFER_FRAMES if buffer_frames is None else buffer_frames
    if not module.needs_peak:
        for power in stream_power(open_blocks(), module):
            yield module.finish(power)[0].numpy()
        return
    held: list[torch.Tensor] | None = []
    n_held = 0
    peak = -np.inf
    for power in stream_power(open_blocks(), module):
        peak = max(peak, module.peak_db(power))
        if held is not None:
            held.append(power)
            n_held += power.shape[-1]
            if n_held > buffer_frames:
                held = None  # too long to hold: read it again once the peak is known
    chunks = held if held is not None else stream_power(open_blocks(), module)
    for power in chunks:
        yield module.finish(power, peak)[0].numpy()
