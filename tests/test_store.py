"""The feature store: computed once, served from disk, recomputed when file or settings change."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrenet.audio import load
from genrenet.data.store import FeatureStore
from genrenet.errors import DiskFullError, GenrenetWarning
from genrenet.features import FeatureConfig, compute
from tests.conftest import SR, tone, write_bad_files


def make_files(folder: Path, n: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"clip{i}.wav"
        sf.write(path, tone(200 + 50 * i, 1.5), SR)
        paths.append(path)
    return paths


def test_extract_then_served_from_cache(tmp_path: Path) -> None:
    paths = make_files(tmp_path / "audio")
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    first = store.extract(paths, workers=2)
    assert sorted(first.computed) == sorted(paths) and not first.failed
    second = store.extract(paths, workers=2)
    assert sorted(second.cached) == sorted(paths) and not second.computed
    for path in paths:
        np.testing.assert_allclose(store.get(path), compute(load(path)), atol=1e-5)
    assert (store.folder / "config.json").exists()


def test_changed_file_or_settings_are_recomputed(tmp_path: Path) -> None:
    paths = make_files(tmp_path / "audio", 2)
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    store.extract(paths)
    old = store.get(paths[0])
    sf.write(paths[0], tone(1000, 1.5), SR)
    os.utime(paths[0], ns=(1, 1_000_000_000))  # different mtime even on coarse clocks
    again = store.extract(paths)
    assert again.computed == [paths[0]] and again.cached == [paths[1]]
    assert not np.allclose(store.get(paths[0]), old)
    mfcc = FeatureStore(FeatureConfig(kind="mfcc"), tmp_path / "cache")
    assert mfcc.folder != store.folder
    assert mfcc.extract(paths).computed == paths
    assert mfcc.get(paths[0]).shape[0] == 40


def test_bad_files_are_reported_and_the_rest_go_on(tmp_path: Path) -> None:
    good = make_files(tmp_path / "audio", 3)
    expected = write_bad_files(tmp_path / "bad")
    bad = [tmp_path / "bad" / name for name in expected]
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    report = store.extract(good + bad, workers=2)
    assert sorted(report.computed) == sorted(good)
    reasons = {s.path.name: s.reason for s in report.failed}
    for name, word in expected.items():
        assert word in reasons[name]


def test_no_half_written_entries_and_corrupt_entry_recovered(tmp_path: Path) -> None:
    paths = make_files(tmp_path / "audio", 1)
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    store.extract(paths)
    entry = store.entry_path(paths[0])
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".tmp-")]
    entry.write_bytes(entry.read_bytes()[:100])  # as if a foreign tool damaged it
    with pytest.warns(GenrenetWarning, match="damaged cache entry"):
        assert store.get(paths[0]) is None and not entry.exists()
    assert store.load(paths[0]).shape[0] == 128


def test_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    paths = make_files(tmp_path / "audio", 1)
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", explode)
    with pytest.raises(DiskFullError, match="no space left on the device while writing"):
        store.extract(paths)  # the disk, not the file: one error for the run
    entry = store.entry_path(paths[0])
    assert not entry.exists()
    assert not [p for p in entry.parent.iterdir() if ".tmp" in p.name]
