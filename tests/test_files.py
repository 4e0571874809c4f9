"""Atomic writes honour the umask, and every genrenet error sits under GenrenetError."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from genrenet.errors import (
    AudioError,
    BundleError,
    CheckpointError,
    DownloadError,
    GenrenetError,
    MissingWeightsError,
)
from genrenet.files import atomic_directory, atomic_path, atomic_write, write_json


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_get_the_usual_modes_under_umask_022(tmp_path, umask_022) -> None:
    assert mode(atomic_write(tmp_path / "a.txt", "hello")) == 0o644
    assert mode(write_json(tmp_path / "b.json", {"x": 1})) == 0o644
    with atomic_path(tmp_path / "c.npy") as tmp:
        np.save(tmp, np.zeros(3, np.float32))
    assert mode(tmp_path / "c.npy") == 0o644
    with atomic_directory(tmp_path / "folder") as tmp:
        (tmp / "inside.txt").write_text("x")
    assert mode(tmp_path / "folder") == 0o755


def test_a_stricter_umask_is_honoured_too(tmp_path) -> None:
    old = os.umask(0o077)
    try:
        assert mode(atomic_write(tmp_path / "private.txt", b"x")) == 0o600
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = atomic_write(tmp_path / "keep.json", '{"old": true}')
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]


def test_write_json_refuses_nan(tmp_path) -> None:
    with pytest.raises(ValueError):
        write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not list(tmp_path.iterdir())


def test_atomic_directory_replaces_a_folder_whole(tmp_path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    with atomic_directory(folder) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_saved_model_and_run_files_are_readable_by_others(tmp_path, umask_022) -> None:
    from genrenet.classifier import Classifier
    from genrenet.patches import Normalizer

    clf = Classifier(model="lenet5", crop_seconds=1.0)
    network = clf.build_network(3)
    clf.adopt(
        ["a", "b", "c"], network, Normalizer(np.zeros(128, np.float32), np.ones(128, np.float32))
    )
    out = clf.save(tmp_path / "model")
    assert mode(out) == 0o755
    assert mode(out / "model.safetensors") == 0o644
    assert mode(out / "config.json") == 0o644
    again = Classifier.load(out)
    assert again.labels == ["a", "b", "c"]
    for key, value in again.network.state_dict().items():
        assert torch.equal(value, network.state_dict()[key])


def test_cache_entries_are_readable_by_others(tmp_path, umask_022) -> None:
    import soundfile as sf

    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.sin(np.arange(22050) / 10).astype(np.float32), 22050)
    store = FeatureStore(FeatureConfig(), tmp_path / "cache")
    store.load(song)
    entry = store.entry_path(song)
    assert mode(entry) == 0o644
    assert mode(entry.parent) == 0o755


@pytest.mark.parametrize(
    "error, builtin",
    [
        (AudioError("x.wav", "empty"), None),
        (BundleError("bad"), None),
        (CheckpointError("bad"), None),
        (DownloadError("bad"), RuntimeError),
        (MissingWeightsError("bad"), FileNotFoundError),
    ],
)
def test_every_error_is_a_genrenet_error_and_keeps_its_builtin_base(error, builtin) -> None:
    assert isinstance(error, GenrenetError)
    if builtin is not None:
        assert isinstance(error, builtin)


def test_old_import_paths_of_the_errors_still_work() -> None:
    from genrenet.audio import AudioError as A
    from genrenet.classifier import BundleError as B
    from genrenet.data.download import DownloadError as D
    from genrenet.pretrained.musicnn_weights import MissingWeightsError as M
    from genrenet.pretrained.tf_checkpoint import CheckpointError as C

    assert (
        AudioError,
        BundleError,
        CheckpointError,
        DownloadError,
        MissingWeightsError,
    ) == (A, B, C, D, M)
