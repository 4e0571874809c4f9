"""Item 1: predict scores windows as the features stream in; memory does not grow with length,
and the results equal the whole-matrix ones (same windows, same batches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrenet.features import FeatureConfig, compute_stream, frontend, stream_features
from genrenet.inference.predictor import WindowPlan, WindowScorer
from tests.reliability.conftest import noise, tiny_classifier, write


def _blocks(y: np.ndarray, size: int):
    return lambda: (y[i : i + size] for i in range(0, len(y), size))


@pytest.mark.parametrize("kind", ["logmel", "mfcc", "musicnn"])
@pytest.mark.parametrize("buffer_frames", [8, None])
def test_streamed_chunks_equal_the_whole_signal(kind: str, buffer_frames: int | None) -> None:
    """Chunk by chunk (in one pass, or in two once the log-mel peak is too far ahead to hold)
    the features equal those of the whole signal."""
    config = FeatureConfig.of_kind(kind)
    y = noise(7.3, config.sample_rate, seed=3)
    y[len(y) // 2 :] *= 4  # the loudest part late: the top_db floor depends on it
    module = frontend(config)
    opened = []

    def open_blocks():
        opened.append(1)
        return _blocks(y, 20000)()

    chunks = list(stream_features(open_blocks, module, buffer_frames))
    whole = compute_stream(_blocks(y, 20000)(), config, module)
    assert len(chunks) > 1
    np.testing.assert_allclose(np.concatenate(chunks, axis=-1), whole, rtol=0, atol=1e-4)
    two_passes = module.needs_peak and buffer_frames == 8
    assert len(opened) == (2 if two_passes else 1)


@pytest.mark.parametrize("end_aligned", [True, False])
@pytest.mark.parametrize("n_frames", [7, 40, 1003])
def test_window_scorer_keeps_a_window_not_the_song(end_aligned: bool, n_frames: int) -> None:
    """Frames fed 13 at a time: the buffer never exceeds a window plus a chunk, and the windows
    and scores are those of the whole matrix."""
    rng = np.random.default_rng(n_frames)
    feats = rng.standard_normal((4, n_frames)).astype(np.float32)
    plan = WindowPlan(patch=20, hop=7, end_aligned=end_aligned, batch=5)
    score = lambda w: w.reshape(len(w), -1)[:, :3] * 2  # noqa: E731 - a real function of w
    got, starts, batches = [], [], []

    def keep(s, st):
        got.append(s)
        starts.append(st)
        batches.append(len(s))

    scorer = WindowScorer(plan, score, keep)
    largest = 0
    for i in range(0, n_frames, 13):
        scorer.feed(feats[:, i : i + 13])
        largest = max(largest, scorer.buffer.shape[-1])
    assert scorer.finish() == n_frames
    assert largest <= plan.patch + 13
    assert all(b == plan.batch for b in batches[:-1])
    starts = np.concatenate(starts)
    expected = list(range(0, n_frames - plan.patch + 1, plan.hop)) if n_frames >= 20 else [0]
    if end_aligned and n_frames > 20 and expected[-1] != n_frames - 20:
        expected.append(n_frames - 20)
    assert starts.tolist() == expected
    tiled = np.tile(feats, (1, 3))[:, :20] if n_frames < 20 else feats
    for s, row in zip(starts, np.concatenate(got), strict=True):
        np.testing.assert_array_equal(row, score(tiled[None, :, s : s + 20])[0])


@pytest.mark.parametrize("hop", [None, 0.37])
def test_streamed_prediction_equals_the_whole_matrix(tmp_path: Path, hop, monkeypatch) -> None:
    """A 70 s file (two decoding blocks, log-mel read twice for its peak): the mean and the
    timeline equal those computed on the full feature matrix."""
    from genrenet.features import frontends

    monkeypatch.setattr(frontends, "PEAK_BUFFER_FRAMES", 500)
    clf = tiny_classifier("logmel")
    path = write(tmp_path / "long.flac", 70.0, seed=5)
    pred = clf.predict_file(path, hop_seconds=hop, timeline=True)
    assert pred.error is None
    probs, starts = clf.window_proba(clf.features_of(path), hop_seconds=hop)
    np.testing.assert_allclose(pred.proba, probs.mean(axis=0), rtol=0, atol=1e-6)
    assert len(pred.timeline) == len(starts)
    frame_s = clf.feature_config.hop_length / clf.feature_config.sample_rate
    assert [w["start"] for w in pred.timeline] == [round(float(s * frame_s), 3) for s in starts]
    best = [w["top"][0]["label"] for w in pred.timeline]
    assert best == [clf.labels[i] for i in probs.argmax(axis=1)]


def test_a_song_shorter_than_one_window_is_tiled(tmp_path: Path) -> None:
    clf = tiny_classifier("logmel", crop_seconds=3.0)
    path = write(tmp_path / "short.wav", 0.5)
    pred = clf.predict_file(path, timeline=True)
    probs, _ = clf.window_proba(clf.features_of(path))
    np.testing.assert_allclose(pred.proba, probs[0], atol=1e-6)
    assert len(pred.timeline) == 1 and pred.timeline[0]["end"] <= 0.55
