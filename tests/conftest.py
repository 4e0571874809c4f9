"""Shared fixtures: real audio files written on the fly, good and deliberately broken."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 22050
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tone(freq: float = 440.0, seconds: float = 2.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    """A sine tone with a little noise, float32."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(int(freq))
    y = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def write_bad_files(folder: Path) -> dict[str, str]:
    """Write one file of each kind of damage; returns name -> a word its error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    y = tone(seconds=4.0)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    sf.write(folder / "full.mp3", y, SR, format="MP3")
    data = (folder / "full.mp3").read_bytes()
    (folder / "full.mp3").unlink()
    (folder / "truncated.mp3").write_bytes(data[: len(data) // 2])
    sf.write(folder / "one_sample.wav", y[:1], SR)
    nan = y.copy()
    nan[1000] = np.nan
    sf.write(folder / "nan.wav", nan, SR, subtype="FLOAT")
    os.symlink(folder / "gone" / "missing.wav", folder / "unreadable.wav")
    return {
        "empty.wav": "empty",
        "notes.wav": "not an audio file",
        "truncated.mp3": "truncated",
        "one_sample.wav": "too short",
        "nan.wav": "non-finite",
        "unreadable.wav": "broken link",
    }


@pytest.fixture
def genre_tree(tmp_path: Path) -> Path:
    """Three genre folders of good tones (wav, flac, mp3, nested), with hidden and text files."""
    root = tmp_path / "music"
    for i, genre in enumerate(["blues", "jazz", "rock"]):
        g = root / genre
        (g / "album").mkdir(parents=True)
        for j in range(3):
            sf.write(g / f"{genre}{j}.wav", tone(220 * (i + 1) + 10 * j), SR)
        sf.write(g / "album" / "deep.flac", tone(300 + i), SR)
        (g / ".hidden.wav").write_bytes(b"junk")
        (g / "cover.txt").write_text("not audio")
    sf.write(root / "rock" / "loud.mp3", tone(500, sr=44100), 44100, format="MP3")
    return root


@pytest.fixture
def mixed_tree(genre_tree: Path) -> tuple[Path, dict[str, str]]:
    """The genre tree plus one broken file of each kind in the rock folder."""
    expected = write_bad_files(genre_tree / "rock")
    return genre_tree, expected


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Caches (features, embeddings) go to a temporary folder, not ~/.cache."""
    if "GENRENET_CACHE" in os.environ:
        yield
        return
    os.environ["GENRENET_CACHE"] = str(tmp_path_factory.mktemp("genrenet-cache"))
    yield
    del os.environ["GENRENET_CACHE"]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny test models run fastest (and steadiest on a shared machine) on one thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
