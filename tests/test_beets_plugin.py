"""The beets plugin against a real beets library in a temporary folder: ``beet import`` a few
files, ``beet genrenet`` (fill mode, then ``--write --force``), the import hook with
``auto: yes``; the database is read back through beets' Python API and the files through
mutagen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("beets")
pytest.importorskip("mutagen")

from genrenet.data.gtzan import GTZAN_GENRES  # noqa: E402
from genrenet.library import TagFile  # noqa: E402
from tests.library_media import make_file, tiny_model  # noqa: E402

BEET = Path(sys.executable).with_name("beet")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


def _library(tmp_path: Path, model: Path, **plugin) -> tuple[Path, Path]:
    """A beets home (config.yaml with the plugin on) and a folder of three files to import."""
    home, music = tmp_path / "beets", tmp_path / "music"
    home.mkdir()
    music.mkdir()
    make_file(music, "one", "flac", seed=1)
    make_file(music, "two", "mp3", ["Ska"], seed=2)
    make_file(music, "three", "m4a", seed=3)
    settings = {"model": str(model), "min_score": 0, **plugin}
    lines = [f"directory: {tmp_path / 'organised'}", f"library: {home / 'library.db'}"]
    lines += ["plugins: genrenet", "genrenet:"] + [f"    {k}: {v!r}" for k, v in settings.items()]
    (home / "config.yaml").write_text("\n".join(lines) + "\n")
    return home, music


def _beet(home: Path, *args: str) -> str:
    env = {**os.environ, "BEETSDIR": str(home)}
    result = subprocess.run(
        [str(BEET), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _items(home: Path) -> dict[str, object]:
    from beets.library import Library

    lib = Library(str(home / "library.db"))
    try:
        return {Path(os.fsdecode(item.path)).stem: item for item in lib.items()}
    finally:
        lib._close()


def _genres(item) -> list[str]:
    return list(item.get("genres") or []) if "genres" in item._fields else [item.get("genre")]


def test_beet_genrenet_sets_the_database_then_writes_files(model, tmp_path):
    home, music = _library(tmp_path, model)
    # -A: no autotagging, -C: no copy, -W: no write; the files stay where they are, untouched.
    _beet(home, "import", "-A", "-C", "-W", "-q", str(music))
    assert "genrenet" in _beet(home, "version")
    before = {p.name: p.read_bytes() for p in music.iterdir()}

    _beet(home, "genrenet")
    items = _items(home)
    assert set(items) == {"one", "two", "three"}
    for item in items.values():
        assert item["genrenet_genre"] in GTZAN_GENRES
        assert 0.0 < float(item["genrenet_score"]) <= 1.0
        assert item["genrenet_model"] == str(model)
    assert _genres(items["one"]) == [items["one"]["genrenet_genre"]]
    assert _genres(items["two"]) == ["Ska"]  # fill mode keeps a genre that is there
    assert {p.name: p.read_bytes() for p in music.iterdir()} == before  # no --write

    _beet(home, "genrenet", "--write", "--force", "title:two")
    items = _items(home)
    label = items["two"]["genrenet_genre"]
    assert _genres(items["two"]) == [label]
    assert TagFile(music / "two.mp3").get("genre") == [label]
    assert TagFile(music / "one.flac").get("genre") is None  # not in the query: not written

    _beet(home, "genrenet", "--write")
    assert TagFile(music / "one.flac").get("genre") == [_items(home)["one"]["genrenet_genre"]]
    assert TagFile(music / "three.m4a").get("genre") == [_items(home)["three"]["genrenet_genre"]]


def test_auto_classifies_on_import(model, tmp_path):
    home, music = _library(tmp_path, model, auto=True, top_k=2, separator=" / ", mode="replace")
    _beet(home, "import", "-A", "-C", "-W", "-q", str(music))
    items = _items(home)
    assert set(items) == {"one", "two", "three"}
    for item in items.values():
        labels = item["genrenet_genre"].split(" / ")
        assert len(labels) == 2 and set(labels) <= set(GTZAN_GENRES)
        assert _genres(item) == labels  # replace mode: Ska is gone from the database
