"""Synthetic genre generator: determinism, layout, formats, argument checks, genre character."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from genrenet.data.synth import GENRES, generate_clip, generate_collection

SR = 22050


def _bytes(paths: list[Path], root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in paths}


def _centroid_and_flux(y: np.ndarray, sr: int = SR) -> tuple[float, float]:
    """Mean spectral centroid (Hz) and mean positive spectral flux of the log magnitude."""
    f, _, z = signal.stft(y, sr, nperseg=1024, noverlap=512)
    mag = np.abs(z)
    centroid = (f[:, None] * mag).sum(0) / (mag.sum(0) + 1e-12)
    logmag = np.log1p(100 * mag / (mag.max() + 1e-12))
    flux = np.maximum(np.diff(logmag, axis=1), 0).sum(0)
    return float(centroid.mean()), float(flux.mean())


def test_at_least_eight_distinct_genres() -> None:
    assert len(GENRES) >= 8
    assert len(set(GENRES)) == len(GENRES)
    assert {"ambient", "metal"} <= set(GENRES[:8])


@pytest.mark.parametrize("genre", GENRES)
def test_every_genre_gives_finite_normalised_mono_audio(genre: str) -> None:
    y = generate_clip(genre, 1.5, SR, np.random.default_rng(3))
    assert y.dtype == np.float32 and y.shape == (int(1.5 * SR),)
    assert np.isfinite(y).all()
    assert 0.5 <= float(np.abs(y).max()) <= 0.95 + 1e-6
    assert float(np.std(y)) > 0.01  # not silence


def test_clip_depends_only_on_the_generator_state() -> None:
    a = generate_clip("house", 1.0, SR, np.random.default_rng(7))
    b = generate_clip("house", 1.0, SR, np.random.default_rng(7))
    c = generate_clip("house", 1.0, SR, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)


def test_same_seed_same_bytes_and_different_seed_different_bytes(tmp_path: Path) -> None:
    kw = dict(n_genres=2, clips_per_genre=2, seconds=1.0)
    first = _bytes(generate_collection(tmp_path / "a", seed=5, **kw), tmp_path / "a")
    again = _bytes(generate_collection(tmp_path / "b", seed=5, **kw), tmp_path / "b")
    other = _bytes(generate_collection(tmp_path / "c", seed=6, **kw), tmp_path / "c")
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[k] != other[k] for k in first)
    assert (tmp_path / "a" / "README.txt").read_bytes() == (
        tmp_path / "b" / "README.txt"
    ).read_bytes()


def test_flac_is_deterministic_too(tmp_path: Path) -> None:
    kw = dict(n_genres=1, clips_per_genre=2, seconds=0.5, fmt="flac")
    first = _bytes(generate_collection(tmp_path / "a", **kw), tmp_path / "a")
    again = _bytes(generate_collection(tmp_path / "b", **kw), tmp_path / "b")
    assert first == again


def test_clips_do_not_depend_on_how_many_genres_are_asked_for(tmp_path: Path) -> None:
    small = _bytes(generate_collection(tmp_path / "s", n_genres=2, clips_per_genre=1, seconds=0.5),
                   tmp_path / "s")  # fmt: skip
    big = _bytes(generate_collection(tmp_path / "b", n_genres=3, clips_per_genre=2, seconds=0.5),
                 tmp_path / "b")  # fmt: skip
    assert small and all(big[k] == v for k, v in small.items())


def test_layout_file_count_and_readme(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    calls: list[Path] = []
    paths = generate_collection(out, n_genres=3, clips_per_genre=2, seconds=0.5, seed=11,
                                progress=lambda path, status: calls.append(path))  # fmt: skip
    assert len(paths) == 6 and calls == paths
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(GENRES[:3])
    for genre in GENRES[:3]:
        names = sorted(p.name for p in (out / genre).iterdir())
        assert names == [f"{genre}.0000.wav", f"{genre}.0001.wav"]  # no temp files left over
    readme = (out / "README.txt").read_text()
    assert "SYNTHETIC" in readme.upper()
    assert "seed: 11" in readme and "clips per genre: 2" in readme
    assert all(g in readme for g in GENRES[:3]) and GENRES[3] not in readme


@pytest.mark.parametrize(("fmt", "sr"), [("wav", 22050), ("flac", 16000), ("mp3", 22050)])
def test_formats_are_readable_with_right_rate_and_duration(
    tmp_path: Path, fmt: str, sr: int
) -> None:
    (path,) = generate_collection(tmp_path, n_genres=1, clips_per_genre=1, seconds=1.0, sr=sr,
                                  fmt=fmt)  # fmt: skip
    assert path.suffix == f".{fmt}"
    y, got_sr = sf.read(path, dtype="float32")
    assert got_sr == sr and y.ndim == 1
    assert abs(len(y) - sr) <= (0.05 * sr if fmt == "mp3" else 0)
    assert np.isfinite(y).all() and 0.4 < np.abs(y).max() <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"fmt": "ogg"}, "format"),
        ({"n_genres": 0}, "n_genres"),
        ({"n_genres": len(GENRES) + 1}, "n_genres"),
        ({"clips_per_genre": 0}, "clips_per_genre"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": -2.0}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"sr": 100}, "sample rate"),
        ({"seed": -1}, "seed"),
        ({"fmt": "mp3", "sr": 12345}, "mp3"),
    ],
)
def test_bad_arguments_are_refused_before_writing(tmp_path: Path, kwargs: dict, words: str) -> None:
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=words):
        generate_collection(out, **{"clips_per_genre": 1, "seconds": 0.5, **kwargs})
    assert not out.exists()


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        generate_collection(target, n_genres=1, clips_per_genre=1, seconds=0.5)


def test_unknown_genre_is_refused() -> None:
    with pytest.raises(ValueError, match="polka"):
        generate_clip("polka", 1.0, SR, np.random.default_rng(0))


def test_metal_is_brighter_and_more_percussive_than_ambient() -> None:
    feats = {
        g: np.array(
            [
                _centroid_and_flux(generate_clip(g, 3.0, SR, np.random.default_rng(s)))
                for s in range(4)
            ]
        )  # fmt: skip
        for g in ("ambient", "metal")
    }
    amb, met = feats["ambient"], feats["metal"]
    assert met[:, 0].min() > amb[:, 0].max()  # every metal clip brighter than every ambient clip
    assert met[:, 0].mean() > 2 * amb[:, 0].mean()
    assert met[:, 1].mean() > 1.5 * amb[:, 1].mean()  # far more onsets/transients


def test_clips_of_one_genre_vary() -> None:
    cents = [_centroid_and_flux(generate_clip("house", 2.0, SR, np.random.default_rng(s)))[0]
             for s in range(5)]  # fmt: skip
    assert np.std(cents) > 0.05 * np.mean(cents)
