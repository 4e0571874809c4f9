"""Decode any music file to mono float32 at a chosen sample rate.

soundfile (libsndfile) reads wav, flac, ogg/vorbis/opus, mp3, aiff and au; PyAV (FFmpeg) reads
what libsndfile cannot (m4a/aac, wma, webm, ...). Resampling is soxr at high quality. Every
failure is an :class:`AudioError` whose message names the file and the reason.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from genrenet.errors import AudioError

DEFAULT_SR = 22050
MIN_DURATION = 0.1
"""Shortest clip (seconds) :func:`load` accepts by default: a 1-sample file is not music."""

_TRUNCATION_TOLERANCE = 0.02
"""Fraction by which decoded length may fall short of the header before we call it truncated."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: native rate, channels, duration (s) and container/codec."""

    path: Path
    sample_rate: int
    channels: int
    duration: float
    format: str


def check_file(path: Path) -> None:
    """Raise AudioError for a path that is missing, unreadable or empty."""
    if not path.exists():
        reason = "file not found"
        if path.is_symlink():
            try:
                os.stat(path)
                reason = "broken link (its target does not exist)"
            except OSError as err:
                looped = err.errno == errno.ELOOP
                reason = (
                    "symbolic link loop" if looped else "broken link (its target does not exist)"
                )
        raise AudioError(path, reason)
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as err:
        raise AudioError(path, f"cannot be read ({err.strerror or err})") from None
    if size == 0:
        raise AudioError(path, "empty file (0 bytes)")


_MPEG_SUFFIXES = frozenset({".mp1", ".mp2", ".mp3", ".mpa", ".mpga"})
_NATIVE_STDERR = threading.Lock()


@contextmanager
def _decoder_notes(path: Path, notes: list[str]) -> Iterator[None]:
    """Keep what libmpg123 prints straight to the process's stderr while it opens or reads an
    MPEG file (``Illegal Audio-MPEG-Header``, ``Xing stream size off``) out of the terminal: the
    lines go to ``notes``, attached to the file's error if it fails, dropped if it decodes.
    Anything else written to stderr meanwhile is passed on."""
    if path.suffix.lower() not in _MPEG_SUFFIXES:
        yield
        return
    with _NATIVE_STDERR, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if "mpg123" in line or re.match(r"\s*(note|warning|error)\b", line, re.I):
                    notes.append(line.strip())
                elif line.strip():
                    os.write(2, (line + "\n").encode())


def _with_notes(err: AudioError, notes: list[str]) -> AudioError:
    """``err`` with the decoder's own notes on the file appended, when there are any."""
    if not notes:
        return err
    said = "; ".join(dict.fromkeys(notes))
    return AudioError(err.path, f"{err.reason} (decoder: {said[:300]})")


def _sniff_not_audio(path: Path) -> bool:
    """True when the first bytes look like text rather than any audio container."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        return True
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read a file's header (no decoding of the samples) and return its :class:`AudioInfo`."""
    path = Path(path)
    check_file(path)
    try:
        with _decoder_notes(path, []):
            info = sf.info(str(path))
        if info.channels < 1:
            raise AudioError(path, "no audio channels")
        return AudioInfo(
            path,
            int(info.samplerate),
            int(info.channels),
            float(info.duration),
            f"{info.format}/{info.subtype}",
        )
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    return _probe_av(path)


def _probe_av(path: Path) -> AudioInfo:
    """Header information through FFmpeg, for what libsndfile cannot open."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise AudioError(path, "no audio stream in the file")
            stream = streams[0]
            duration = 0.0
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            channels = stream.codec_context.channels or 0
            if channels < 1:
                raise AudioError(path, "no audio channels")
            return AudioInfo(
                path,
                int(stream.codec_context.sample_rate or 0),
                channels,
                duration,
                f"{container.format.name}/{stream.codec_context.name}",
            )
    except AudioError:
        raise
    except Exception as err:  # noqa: BLE001 - FFmpeg raises many types; we name the cause
        raise _decode_error(path, err) from None


def _decode_error(path: Path, err: Exception) -> AudioError:
    """Turn a decoder exception into an AudioError with a reason a person understands."""
    if _sniff_not_audio(path):
        return AudioError(path, "not an audio file (the content is text)")
    message = str(err).strip() or type(err).__name__
    lowered = message.lower()
    if (
        "invalid data" in lowered
        or "format not recognised" in lowered
        or "unknown format" in lowered
    ):
        return AudioError(path, "not a recognised audio format")
    if "decoder" in lowered or "codec" in lowered:
        return AudioError(path, f"unsupported codec ({message})")
    if "end of file" in lowered or "truncat" in lowered:
        return AudioError(path, "truncated file")
    return AudioError(path, f"cannot be decoded ({message})")


def _to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels of a [frames, channels] array to one float32 channel."""
    if data.ndim == 2:
        data = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(data, dtype=np.float32)


class _NotForLibsndfile(Exception):
    """libsndfile cannot open the file: try FFmpeg."""


def _read_soundfile(
    path: Path, offset: float, duration: float | None, notes: list[str]
) -> tuple[np.ndarray, int]:
    """Decode with libsndfile; raises _NotForLibsndfile for what it cannot open."""
    with _decoder_notes(path, notes):
        return _read_opened(path, offset, duration)


def _read_opened(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise _NotForLibsndfile(str(err)) from None
    with f:
        if f.channels < 1:
            raise AudioError(path, "no audio channels")
        native = int(f.samplerate)
        _check_chunk_sizes(path, f)
        start = int(round(offset * native))
        expected = f.frames - start if f.frames > 0 else None
        if duration is not None:
            want = int(round(duration * native))
            expected = want if expected is None else min(expected, want)
        try:
            if start:
                f.seek(min(start, max(f.frames, 0)))
            data = f.read(
                frames=-1 if expected is None else max(expected, 0), dtype="float32", always_2d=True
            )
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(path, f"truncated or corrupt ({err})") from None
    check_complete(path, data.shape[0], expected, native)
    return data, native


def check_complete(path: Path, decoded: int, expected: int | None, native: int) -> None:
    """Raise AudioError when fewer frames decoded than the header promises (a truncated file)."""
    if expected and decoded < expected * (1 - _TRUNCATION_TOLERANCE) - 1:
        got, want_s = decoded / native, expected / native
        raise AudioError(
            path,
            f"truncated: the header promises {want_s:.2f} s, only {got:.2f} s could be decoded",
        )


def check_duration(path: Path, n_samples: int, sr: int, min_duration: float = MIN_DURATION) -> None:
    """Raise AudioError for a signal shorter than ``min_duration`` seconds (or with no samples)."""
    if n_samples == 0:
        raise AudioError(path, "no audio samples (the file holds a header only)")
    if n_samples < min_duration * sr:
        raise AudioError(
            path, f"too short: {n_samples / sr:.3f} s, the minimum is {min_duration:g} s"
        )


def _check_chunk_sizes(path: Path, f: sf.SoundFile) -> None:
    """WAV/AIFF: libsndfile quietly shortens a data chunk cut off early; we call it truncated."""
    if f.format not in ("WAV", "WAVEX", "AIFF", "RF64", "W64"):
        return
    for line in f.extra_info.splitlines():
        m = re.match(r"\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", line)
        if m and int(m.group(3)) < int(m.group(2)):
            raise AudioError(
                path,
                f"truncated: the header promises {m.group(2)} bytes of audio, "
                f"the file holds {m.group(3)}",
            )


def _read_av(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decode with FFmpeg through PyAV, returning [frames, channels] float32 and the native rate."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(path, "no audio stream in the file")
            stream = container.streams.audio[0]
            native = int(stream.codec_context.sample_rate or 0)
            if native <= 0:
                raise AudioError(path, "no sample rate in the audio stream")
            start = int(round(offset * native))
            stop = None if duration is None else start + int(round(duration * native))
            chunks: list[np.ndarray] = []
            position = 0
            for frame in container.decode(stream):
                block = frame.to_ndarray()
                block = _planar_to_frames(block, frame.format.is_planar, frame.layout.nb_channels)
                chunks.append(block)
                position += block.shape[0]
                if stop is not None and position >= stop:
                    break
    except AudioError:
        raise
    except Exception as err:  # noqa: BLE001 - FFmpeg raises many types; we name the cause
        raise _decode_error(path, err) from None
    if not chunks:
        raise AudioError(path, "no audio samples could be decoded")
    data = np.concatenate(chunks, axis=0)
    return data[start:stop], native


def _planar_to_frames(block: np.ndarray, planar: bool, channels: int) -> np.ndarray:
    """PyAV gives [channels, n] (planar) or [1, n*channels] (packed); return float32 [n, ch]."""
    block = block.reshape(-1, channels) if not planar else block.T
    if np.issubdtype(block.dtype, np.integer):
        scale = float(np.iinfo(block.dtype).max) + 1.0
        block = block.astype(np.float32) / scale
    return block.astype(np.float32, copy=False)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono float32 signal with soxr (high quality); a no-op when the rates match."""
    if orig_sr == target_sr:
        return y
    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def load(
    path: str | os.PathLike,
    sr: int | None = DEFAULT_SR,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = MIN_DURATION,
) -> np.ndarray:
    """Decode ``path`` to float32 samples at ``sr`` Hz (native rate when ``sr`` is None).

    Returns shape ``(n,)`` when ``mono`` else ``(n, channels)``. ``offset`` and ``duration``
    are in seconds. Raises :class:`AudioError` for anything that is not usable audio.

    >>> y = load("song.mp3", sr=22050)  # doctest: +SKIP
    """
    y, _ = load_with_rate(
        path, sr=sr, mono=mono, offset=offset, duration=duration, min_duration=min_duration
    )
    return y


def load_with_rate(
    path: str | os.PathLike,
    sr: int | None = DEFAULT_SR,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = MIN_DURATION,
) -> tuple[np.ndarray, int]:
    """Like :func:`load`, also returning the rate of the returned samples."""
    path = Path(path)
    if offset < 0:
        raise ValueError(f"offset must be >= 0 seconds, got {offset}")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if sr is not None and sr <= 0:
        raise ValueError(f"sr must be a positive sample rate, got {sr}")
    check_file(path)
    notes: list[str] = []
    try:
        data, native = _read_soundfile(path, offset, duration, notes)
    except _NotForLibsndfile:
        data, native = _read_av(path, offset, duration)
    except AudioError as err:
        raise _with_notes(err, notes) from None
    if data.size == 0 or data.shape[0] == 0:
        raise AudioError(path, "no audio samples (the file holds a header only)")
    if not np.isfinite(data).all():
        raise AudioError(path, "non-finite samples (NaN or infinity) in the audio")
    target = native if sr is None else sr
    if mono:
        y = resample(_to_mono(data), native, target)
    else:
        y = np.stack([resample(np.ascontiguousarray(c), native, target) for c in data.T], axis=1)
    check_duration(path, y.shape[0], target, min_duration)
    return y, target


def stream(
    path: str | os.PathLike,
    sr: int = DEFAULT_SR,
    block_seconds: float = 30.0,
    min_duration: float = MIN_DURATION,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks of about ``block_seconds`` at ``sr`` Hz.

    An hour-long file never sits in memory at once; resampling state carries across blocks,
    so the concatenated blocks equal one resampled signal. The file is checked as :func:`load`
    checks it (truncation, non-finite samples, ``min_duration``); a problem found only at the
    end (a truncated file) raises :class:`AudioError` after the blocks before it.
    """
    path = Path(path)
    if block_seconds <= 0:
        raise ValueError(f"block_seconds must be > 0, got {block_seconds}")
    check_file(path)
    notes: list[str] = []
    try:
        with _decoder_notes(path, notes):
            f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        yield from _checked(path, _stream_av(path, sr, block_seconds), sr, min_duration)
        return
    try:
        blocks = _stream_soundfile(path, f, sr, block_seconds, notes)
        yield from _checked(path, blocks, sr, min_duration)
    except AudioError as err:
        raise _with_notes(err, notes) from None


def _checked(
    path: Path, blocks: Iterator[np.ndarray], sr: int, min_duration: float
) -> Iterator[np.ndarray]:
    """Pass blocks on, holding back the first ``min_duration`` seconds until they are there."""
    held: list[np.ndarray] | None = []
    total = 0
    for block in blocks:
        total += block.shape[0]
        if held is None:
            yield block
            continue
        held.append(block)
        if total >= min_duration * sr:
            yield from held
            held = None
    check_duration(path, total, sr, min_duration)


def _stream_soundfile(
    path: Path, f: sf.SoundFile, sr: int, block_seconds: float, notes: list[str]
) -> Iterator[np.ndarray]:
    """libsndfile-backed :func:`stream`: the same chunk-size and length checks as :func:`load`."""
    with f:
        if f.channels < 1:
            raise AudioError(path, "no audio channels")
        native = int(f.samplerate)
        _check_chunk_sizes(path, f)
        expected = f.frames if f.frames > 0 else None
        resampler = (
            None
            if native == sr
            else soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ")
        )
        block = max(1, int(block_seconds * native))
        decoded = 0
        while True:
            try:
                with _decoder_notes(path, notes):
                    data = f.read(block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioError(path, f"truncated or corrupt ({err})") from None
            decoded += data.shape[0]
            last = data.shape[0] < block
            if last:
                check_complete(path, decoded, expected, native)
            yield from _finish_block(path, data, resampler, last)
            if last:
                return


def _finish_block(path: Path, data: np.ndarray, resampler, last: bool) -> Iterator[np.ndarray]:
    """Validate, down-mix and resample one decoded block (flushing the resampler at the end)."""
    if data.size and not np.isfinite(data).all():
        raise AudioError(path, "non-finite samples (NaN or infinity) in the audio")
    mono = _to_mono(data) if data.size else np.zeros(0, np.float32)
    out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
    if out.size:
        yield out


def _stream_av(path: Path, sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    """FFmpeg-backed :func:`stream` for formats libsndfile cannot open."""
    import av

    try:
        container = av.open(str(path))
    except Exception as err:  # noqa: BLE001
        raise _decode_error(path, err) from None
    with container:
        if not container.streams.audio:
            raise AudioError(path, "no audio stream in the file")
        stream_ = container.streams.audio[0]
        native = int(stream_.codec_context.sample_rate or 0)
        resampler = (
            None
            if native == sr
            else soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ")
        )
        block = max(1, int(block_seconds * native))
        pending: list[np.ndarray] = []
        count = 0
        try:
            for frame in container.decode(stream_):
                chunk = _planar_to_frames(
                    frame.to_ndarray(), frame.format.is_planar, frame.layout.nb_channels
                )
                pending.append(chunk)
                count += chunk.shape[0]
                if count >= block:
                    yield from _finish_block(path, np.concatenate(pending), resampler, False)
                    pending, count = [], 0
        except AudioError:
            raise
        except Exception as err:  # noqa: BLE001
            raise _decode_error(path, err) from None
        rest = np.concatenate(pending) if pending else np.zeros((0, 1), np.float32)
        yield from _finish_block(path, rest, resampler, True)
