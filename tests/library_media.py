"""Music files for the library tests, made on the fly: every tag format genrenet retag writes,
with titles, artists, dates and pictures, and a tiny untrained model to predict with.

Snapshots read every tag with mutagen's own format classes (not genrenet's code) and decode the
audio with PyAV, so a test compares what a player would see before and after.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import mutagen
import numpy as np
import soundfile as sf

SR = 22050
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
FORMATS = ("mp3", "mp3v23", "flac", "ogg", "opus", "m4a", "wav", "aiff", "wma")
"""Every format of the round trip; ``mp3v23`` is an MP3 whose tag is ID3v2.3."""


def suffix(fmt: str) -> str:
    """The file ending of a format name."""
    return {"mp3v23": ".mp3"}.get(fmt, f".{fmt}")


def signal(seconds: float, seed: int) -> np.ndarray:
    """A few tones and a little noise, mono float32 in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    freqs = rng.uniform(110, 1800, 3)
    y = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 6 + 0.02 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def _encode_av(path: Path, y: np.ndarray, container: str, codec: str) -> None:
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=SR)
        stream.layout = "mono"
        if codec == "wmav2":
            stream.bit_rate = 64000
        frame = av.AudioFrame.from_ndarray(y[None, :], format="fltp", layout="mono")
        frame.sample_rate = SR
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def make_file(
    folder: Path,
    name: str,
    fmt: str,
    genre: list[str] | None = None,
    seconds: float = 1.0,
    seed: int = 0,
    picture: bool = True,
) -> Path:
    """An audio file of format ``fmt`` with a title, an artist, a date, a picture (where the
    format has one) and, when given, a genre."""
    path = folder / f"{name}{suffix(fmt)}"
    y = signal(seconds, seed)
    if fmt in ("mp3", "mp3v23"):
        sf.write(path, y, SR, format="MP3")
    elif fmt == "opus":
        sf.write(path, y, 48000, format="OGG", subtype="OPUS")
    elif fmt == "m4a":
        _encode_av(path, y, "mp4", "aac")
    elif fmt == "wma":
        _encode_av(path, y, "asf", "wmav2")
    else:
        sf.write(path, y, SR)
    _tag(path, fmt, f"title {name}", genre, picture)
    return path


def _tag(path: Path, fmt: str, title: str, genre: list[str] | None, picture: bool) -> None:
    from mutagen.id3 import APIC, COMM, TCON, TDAT, TDRC, TIT2, TPE1, TYER

    audio = mutagen.File(path)
    if fmt in ("mp3", "mp3v23", "wav", "aiff"):
        audio.add_tags()
        tags = audio.tags
        tags.add(TIT2(encoding=3, text=title))
        tags.add(TPE1(encoding=3, text=["someone", "someone else"]))
        tags.add(COMM(encoding=3, lang="eng", desc="", text="kept as it is"))
        if fmt == "mp3v23":
            tags.add(TYER(encoding=0, text="1999"))
            tags.add(TDAT(encoding=0, text="0312"))
        else:
            tags.add(TDRC(encoding=3, text="1999-03-12"))
        if genre:
            tags.add(TCON(encoding=3, text=genre))
        if picture:
            tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=PNG))
        if fmt == "mp3v23":
            # Written untranslated, as a v2.3 tagger would: TYER and TDAT stay themselves.
            from mutagen.id3 import ID3

            raw = ID3()
            for frame in tags.values():
                raw.add(frame)
            raw.save(path, v2_version=3)
        else:
            audio.save()
        return
    if fmt == "m4a":
        from mutagen.mp4 import MP4Cover

        audio["\xa9nam"] = [title]
        audio["\xa9ART"] = ["someone"]
        audio["\xa9day"] = ["1999"]
        audio["trkn"] = [(3, 12)]
        if genre:
            audio["\xa9gen"] = genre
        if picture:
            audio["covr"] = [MP4Cover(PNG, imageformat=MP4Cover.FORMAT_PNG)]
    elif fmt == "wma":
        audio["Title"] = [title]
        audio["Author"] = ["someone"]
        audio["WM/Year"] = ["1999"]
        if genre:
            audio["WM/Genre"] = genre
    else:  # Vorbis comments: FLAC, Ogg Vorbis, Opus
        audio["TITLE"] = [title]
        audio["ARTIST"] = ["someone", "someone else"]
        audio["DATE"] = ["1999"]
        if genre:
            audio["GENRE"] = genre
        if picture and fmt == "flac":
            from mutagen.flac import Picture

            pic = Picture()
            pic.type, pic.mime, pic.desc, pic.data = 3, "image/png", "cover", PNG
            audio.add_picture(pic)
    audio.save()


GENRE_KEYS = {"TCON", "\xa9gen", "wm/genre", "genre"}


def tag_snapshot(path: Path) -> dict[str, object]:
    """Every tag of the file as mutagen reads it (ID3 untranslated, Vorbis keys lower-cased,
    pictures included), keyed by where it lives."""
    from mutagen.id3 import ID3

    audio = mutagen.File(path)
    out: dict[str, object] = {}
    if audio.tags is not None and isinstance(audio.tags, ID3):
        tags = type(audio.tags)(path, translate=False)
        out["id3 version"] = tags.version
        for key, frame in tags.items():
            out[key] = repr(frame)
        return out
    if hasattr(audio, "pictures"):
        out["pictures"] = [hashlib.md5(p.data).hexdigest() for p in audio.pictures]
    for key, value in audio.tags.items() if audio.tags is not None else []:
        out[key.lower()] = sorted(repr(v) for v in value)
    return out


def other_tags(snapshot: dict[str, object]) -> dict[str, object]:
    """A snapshot without the genre."""
    return {k: v for k, v in snapshot.items() if k not in GENRE_KEYS}


def audio_checksum(path: Path) -> str:
    """MD5 of every decoded audio frame (PyAV), the container's tags not included."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray().ravel() for f in container.decode(audio=0)]
    return hashlib.md5(np.concatenate(frames).tobytes()).hexdigest()


def tiny_model(folder: Path) -> Path:
    """An untrained lenet5 on log-mels over 1 s patches with the 10 GTZAN genres, saved as a
    bundle: a real model that loads and predicts in milliseconds (its scores are near uniform,
    so tests use --min-score 0)."""
    import torch

    from genrenet.classifier import Classifier
    from genrenet.data.gtzan import GTZAN_GENRES
    from genrenet.patches import Normalizer

    torch.manual_seed(0)
    clf = Classifier(model="lenet5", features="logmel", crop_seconds=1.0)
    network = clf.build_network(len(GTZAN_GENRES))
    clf.adopt(list(GTZAN_GENRES), network, Normalizer.identity(clf.feature_config.n_features))
    return clf.save(folder / "tiny-model")
