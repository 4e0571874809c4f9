"""k-fold cross-validation: folds by track and by artist, pooled metrics, resume, leaky contrast."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genrenet.classifier import Classifier
from genrenet.data import open_collection
from genrenet.data.synth import generate_collection
from genrenet.data.tracks import Collection, Track
from genrenet.evaluation import crossval
from genrenet.evaluation.crossval import cross_validate, make_folds

N_FOLDS = 3
TINY = {
    "model": "lenet5",
    "crop_seconds": 1.0,
    "max_epochs": 2,
    "batch_size": 8,
    "crops_per_track": 2,
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster without intra-op threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """3 synthetic genres x 6 clips x 4 s."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_collection(root, n_genres=3, clips_per_genre=6, seconds=4.0, seed=0)
    return root


@pytest.fixture(scope="module")
def cv_run(synthetic: Path, tmp_path_factory):
    """One 3-fold cross-validation with the leaky contrast, shared by the tests below."""
    base = tmp_path_factory.mktemp("cv")
    seen: list[int] = []
    result = cross_validate(
        Classifier(**TINY),
        synthetic,
        n_folds=N_FOLDS,
        out_dir=base / "out",
        cache=base / "cache",
        leaky=True,
        on_fold=lambda fold: seen.append(fold.index),
    )
    return result, base, seen


def grouped_collection(n_genres: int = 4, artists_per_genre: int = 4, songs: int = 3):
    """Tracks whose artist (group) is known; each artist plays one genre."""
    tracks = [
        Track(Path(f"g{g}/a{a}/s{s}.wav"), f"genre{g}", group=f"artist{g}-{a}")
        for g in range(n_genres)
        for a in range(artists_per_genre)
        for s in range(songs)
    ]
    return Collection("grouped", tracks, kind="manifest")


def test_stratified_folds_partition_the_tracks(synthetic: Path) -> None:
    collection = open_collection(synthetic)
    folds = make_folds(collection, N_FOLDS, seed=0)
    n = len(collection)
    assert len(folds) == N_FOLDS
    tests = [set(f.test) for f in folds]
    assert sum(len(t) for t in tests) == n
    assert set().union(*tests) == set(range(n))
    for fold in folds:
        assert fold.method == "cv-stratified"
        parts = [set(fold.train), set(fold.valid), set(fold.test)]
        assert all(parts), "every part holds tracks"
        assert sum(len(p) for p in parts) == n and set().union(*parts) == set(range(n))
        labels = [collection.tracks[i].label for i in fold.test]
        assert sorted(labels.count(g) for g in set(labels)) == [2, 2, 2]  # 6 per genre / 3
    again = make_folds(collection, N_FOLDS, seed=0)
    assert [f.test for f in again] == [f.test for f in folds]
    assert [f.test for f in make_folds(collection, N_FOLDS, seed=5)] != [f.test for f in folds]


def test_grouped_folds_never_split_an_artist() -> None:
    collection = grouped_collection()
    folds = make_folds(collection, 4, seed=3)
    group = [t.group for t in collection.tracks]
    test_groups = []
    for fold in folds:
        assert fold.method == "cv-grouped"
        train, valid, test = (
            {group[i] for i in part} for part in (fold.train, fold.valid, fold.test)
        )
        assert fold.valid and not train & valid and not train & test and not valid & test
        assert len(fold.train) + len(fold.valid) + len(fold.test) == len(collection)
        test_groups.append(test)
    assert sum(len(g) for g in test_groups) == 16 and set().union(*test_groups) == set(group)
    assert sorted(i for f in folds for i in f.test) == list(range(len(collection)))


def test_bad_fold_requests_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least 2 folds"):
        make_folds(grouped_collection(), 1)
    with pytest.raises(ValueError, match="5 artists/groups cannot fill 6 folds"):
        make_folds(grouped_collection(n_genres=5, artists_per_genre=1), 6)
    with pytest.raises(ValueError, match="3 tracks cannot fill 4 folds"):
        make_folds(grouped_collection(1, 1, 3), 4)


def test_cv_writes_fold_runs_and_reports(cv_run) -> None:
    result, base, seen = cv_run
    out = base / "out"
    assert seen == [1, 2, 3]
    for name in ("cv.json", "cv.md", "confusion_matrix.png", "confusion_matrix_counts.png"):
        assert (out / name).is_file(), name
    for k in range(1, N_FOLDS + 1):
        for name in ("metrics.json", "split.json", "track_proba.json", "model/model.safetensors"):
            assert (out / f"fold-{k}" / name).is_file(), f"fold-{k}/{name}"
        assert (out / "leaky" / f"fold-{k}" / "metrics.json").is_file()
    saved = json.loads((out / "cv.json").read_text())
    assert saved["status"] == "complete"
    assert saved["settings"]["folds"] == N_FOLDS and saved["settings"]["split"] == "cv-stratified"
    assert saved["settings"]["train"]["max_epochs"] == 2 and saved["settings"]["model"] == "lenet5"
    assert [row["fold"] for row in saved["folds"]] == [1, 2, 3]
    assert len(saved["tracks"]) == 18 and {t["fold"] for t in saved["tracks"]} == {1, 2, 3}
    text = (out / "cv.md").read_text()
    assert text.count("\n| 1 |") == 1 and "mean ± std" in text and "Leaky vs honest" in text


def test_honest_folds_never_share_a_song(cv_run) -> None:
    _, base, _ = cv_run
    tested = []
    for k in range(1, N_FOLDS + 1):
        split = json.loads((base / "out" / f"fold-{k}" / "split.json").read_text())
        assert not set(split["test"]) & (set(split["train"]) | set(split["valid"]))
        tested += split["test"]
    assert len(tested) == len(set(tested)) == 18


def test_summary_is_mean_and_sample_std_of_the_folds(cv_run) -> None:
    result, base, _ = cv_run
    for metric in ("accuracy", "macro_f1"):
        values = [
            json.loads((base / "out" / f"fold-{k}" / "metrics.json").read_text())["track"][metric]
            for k in range(1, N_FOLDS + 1)
        ]
        assert result.summary[f"track_{metric}_mean"] == pytest.approx(np.mean(values))
        assert result.summary[f"track_{metric}_std"] == pytest.approx(np.std(values, ddof=1))


def test_pooled_metrics_are_exact(cv_run) -> None:
    result, base, _ = cv_run
    pooled = result.pooled["track"]
    confusion = np.array(pooled["confusion"])
    assert confusion.sum() == 18 == pooled["n"]
    folds_sum = sum(np.array(f.track["confusion"]) for f in result.folds)
    assert np.array_equal(confusion, folds_sum)
    correct = sum(f.track["accuracy"] * f.n_test for f in result.folds)
    assert pooled["accuracy"] == pytest.approx(correct / 18)
    # the saved per-track probabilities reproduce each fold's own evaluation
    for k, fold in enumerate(result.folds, start=1):
        saved = json.loads((base / "out" / f"fold-{k}" / "track_proba.json").read_text())
        predicted = np.argmax(np.array(saved["proba"]), axis=1)
        assert np.mean(predicted == np.array(saved["y_true"])) == pytest.approx(
            fold.track["accuracy"]
        )
    seg = result.pooled["segment"]
    assert seg["n"] == sum(f.segment["n"] for f in result.folds)
    assert np.array(seg["confusion"]).sum() == seg["n"]


def test_leaky_contrast_puts_songs_on_both_sides(cv_run) -> None:
    result, base, _ = cv_run
    leaky = result.leaky
    assert leaky is not None
    assert leaky["honest_segment_accuracy"] == pytest.approx(result.pooled["segment"]["accuracy"])
    assert leaky["inflation_pp"] == pytest.approx(
        100 * (leaky["leaky_segment_accuracy"] - leaky["honest_segment_accuracy"])
    )
    assert 0 <= leaky["leaky_segment_accuracy"] <= 1 and len(leaky["per_fold_accuracy"]) == 3
    # 4 s clips cut into non-overlapping 1 s patches: 3 whole patches per clip
    assert leaky["segments"] == 18 * 3
    shared = 0
    for k in range(1, N_FOLDS + 1):
        split = json.loads((base / "out" / "leaky" / f"fold-{k}" / "split.json").read_text())
        train_songs = {s.rsplit("#", 1)[0] for s in split["train"] + split["valid"]}
        shared += sum(s.rsplit("#", 1)[0] in train_songs for s in split["test"])
    assert shared / leaky["segments"] == pytest.approx(leaky["test_segments_with_song_in_training"])
    assert shared > leaky["segments"] / 2
    saved = json.loads((base / "out" / "cv.json").read_text())["leaky"]
    assert saved["inflation_pp"] == pytest.approx(leaky["inflation_pp"])


def test_resume_reuses_finished_folds(cv_run, synthetic: Path, tmp_path: Path, monkeypatch) -> None:
    result, base, _ = cv_run
    out = tmp_path / "out"
    shutil.copytree(base / "out", out)
    calls: list[Path] = []
    real = crossval.train_on_split

    def counting(classifier, loaded, fold, out_dir, **kwargs):
        calls.append(Path(out_dir))
        return real(classifier, loaded, fold, out_dir, **kwargs)

    monkeypatch.setattr(crossval, "train_on_split", counting)
    again = cross_validate(
        Classifier(**TINY), synthetic, n_folds=N_FOLDS, out_dir=out, cache=base / "cache"
    )
    assert calls == []
    assert all(f.reused for f in again.folds)
    assert again.summary == pytest.approx(result.summary)
    assert again.pooled["track"]["confusion"] == result.pooled["track"]["confusion"]

    (out / "fold-2" / "track_proba.json").unlink()  # as if fold 2 was interrupted
    third = cross_validate(
        Classifier(**TINY), synthetic, n_folds=N_FOLDS, out_dir=out, cache=base / "cache"
    )
    assert calls == [out / "fold-2"]
    assert [f.reused for f in third.folds] == [True, False, True]
    assert (out / "fold-2" / "track_proba.json").is_file()


def test_other_settings_in_the_same_folder_are_refused(cv_run, synthetic: Path, tmp_path) -> None:
    _, base, _ = cv_run
    out = tmp_path / "out"
    shutil.copytree(base / "out", out)
    with pytest.raises(
        ValueError, match=r"cv\.json: .*other settings \(train\.max_epochs: 2 -> 3\)"
    ):
        cross_validate(
            Classifier(**{**TINY, "max_epochs": 3}),
            synthetic,
            n_folds=N_FOLDS,
            out_dir=out,
            cache=base / "cache",
        )
