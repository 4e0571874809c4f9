"""Items 4 and 5: a cache that cannot be written is said once, where and how to move it, and
prediction works on without it; a damaged cache entry is detected, named and recomputed."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from genrenet.errors import GenrenetWarning
from tests.reliability.conftest import run_cli, write


def test_predict_with_a_cache_under_a_regular_file(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "afile").write_text("a file, not a folder")
    monkeypatch.setenv("GENRENET_CACHE", str(tmp_path / "afile" / "cache"))
    song = write(tmp_path / "song.wav", 3.5)
    code, out, err = run_cli(["predict", str(song), "--json"], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "cannot be written" in line]
    assert len(lines) <= 1  # the weights ship with genrenet: predict need not write at all
    assert all("afile/cache" in line and "GENRENET_CACHE" in line for line in lines)
    assert '"label"' in out


def test_extract_blames_the_cache_not_the_files(tmp_path: Path, capsys) -> None:
    for genre in ("a", "b"):
        (tmp_path / "music" / genre).mkdir(parents=True)
        for i in range(3):
            write(tmp_path / "music" / genre / f"{i}.wav", 0.5, seed=i)
    (tmp_path / "afile").write_text("")
    cache = tmp_path / "afile" / "cache"
    code, out, err = run_cli(["extract", str(tmp_path / "music"), "--cache", str(cache)], capsys)
    assert code == 1
    assert "Traceback" not in err
    assert err.count("cannot be written") == 1 and "afile/cache" in err
    assert ".wav" not in err  # no file is blamed


def test_a_damaged_entry_is_named_removed_and_recomputed(tmp_path: Path) -> None:
    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    song = write(tmp_path / "song.wav", 1.0)
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    assert store.extract([song]).computed == [song]
    good = np.load(store.entry_path(song))
    entry = store.entry_path(song)
    entry.write_bytes(b"\x93NUMPY garbage that is no array" * 10)
    with pytest.warns(GenrenetWarning, match=rf"damaged cache entry .*{entry.name}.*song\.wav"):
        report = store.extract([song])
    assert report.computed == [song] and not report.cached
    np.testing.assert_array_equal(np.load(entry), good)
    entry.write_bytes(entry.read_bytes()[:-100])  # a truncated entry, read by train and evaluate
    with pytest.warns(GenrenetWarning, match="damaged cache entry"):
        again = store.load(song)
    np.testing.assert_array_equal(again, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.extract([song]).cached == [song]  # sound again: no warning
