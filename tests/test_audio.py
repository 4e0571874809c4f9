"""Decoding, resampling, streaming and the errors for bad input."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from genrenet import audio
from tests.conftest import SR, tone, write_bad_files


def test_load_resamples_and_downmixes(tmp_path: Path) -> None:
    left, right = tone(440, 2.0, 44100), tone(660, 2.0, 44100)
    sf.write(tmp_path / "stereo.flac", np.stack([left, right], axis=1), 44100)
    y = audio.load(tmp_path / "stereo.flac", sr=SR)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 2 * SR) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    top2 = sorted(freqs[np.argsort(spectrum)[-2:]].round())
    assert top2 == [440.0, 660.0]
    both = audio.load(tmp_path / "stereo.flac", sr=SR, mono=False)
    assert both.shape[1] == 2


def test_offset_and_duration(tmp_path: Path) -> None:
    y = np.linspace(-0.5, 0.5, 3 * SR, dtype=np.float32)
    sf.write(tmp_path / "ramp.wav", y, SR, subtype="FLOAT")
    part = audio.load(tmp_path / "ramp.wav", sr=SR, offset=1.0, duration=0.5)
    np.testing.assert_allclose(part, y[SR : SR + SR // 2])


@pytest.mark.parametrize("codec,container", [("aac", "m4a"), ("libopus", "webm")])
def test_ffmpeg_fallback_for_formats_libsndfile_cannot_read(
    tmp_path: Path, codec, container
) -> None:
    path = tmp_path / f"clip.{container}"
    rate = 48000 if codec == "libopus" else 44100
    y = tone(440, 2.0, rate)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(y[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(path))
    decoded = audio.load(path, sr=SR)
    assert abs(len(decoded) / SR - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(decoded))
    peak = np.fft.rfftfreq(len(decoded), 1 / SR)[spectrum.argmax()]
    assert abs(peak - 440) < 2
    assert audio.probe(path).channels == 1


def test_bad_files_each_get_a_specific_reason(tmp_path: Path) -> None:
    expected = write_bad_files(tmp_path)
    for name, word in expected.items():
        with pytest.raises(audio.AudioError) as info:
            audio.load(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
        assert word in info.value.reason, (name, info.value.reason)


def test_truncated_wav_and_flac(tmp_path: Path) -> None:
    y = tone(seconds=3.0)
    for ext in ("wav", "flac"):
        sf.write(tmp_path / f"full.{ext}", y, SR)
        data = (tmp_path / f"full.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
        with pytest.raises(audio.AudioError, match="truncated"):
            audio.load(tmp_path / f"cut.{ext}")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(audio.AudioError, match="file not found"):
        audio.load(tmp_path / "nope.wav")
    with pytest.raises(audio.AudioError, match="folder"):
        audio.load(tmp_path)


def test_stream_equals_load_and_resamples_seamlessly(tmp_path: Path) -> None:
    y = tone(330, 7.3, 44100)
    sf.write(tmp_path / "long.wav", y, 44100, subtype="FLOAT")
    blocks = list(audio.stream(tmp_path / "long.wav", sr=SR, block_seconds=1.0))
    assert len(blocks) >= 7
    streamed = np.concatenate(blocks)
    whole = audio.load(tmp_path / "long.wav", sr=SR)
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    # Same resampler, carried state: the joins between blocks are inaudible.
    assert np.max(np.abs(streamed[1000 : n - 1000] - whole[1000 : n - 1000])) < 1e-3


def test_stream_through_ffmpeg(tmp_path: Path) -> None:
    path = tmp_path / "clip.m4a"
    y = tone(440, 3.0, 44100)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(y[None, :], format="flt", layout="mono")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    streamed = np.concatenate(list(audio.stream(path, sr=SR, block_seconds=0.5)))
    assert abs(len(streamed) / SR - 3.0) < 0.1


def test_stream_rejects_nan(tmp_path: Path) -> None:
    y = tone(seconds=2.0)
    y[SR + 5] = np.inf
    sf.write(tmp_path / "inf.wav", y, SR, subtype="FLOAT")
    with pytest.raises(audio.AudioError, match="non-finite"):
        list(audio.stream(tmp_path / "inf.wav", sr=SR, block_seconds=0.5))
