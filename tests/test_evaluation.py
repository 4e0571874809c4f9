"""Evaluation metrics checked against plain NumPy computations, and the plots read back as PNGs."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrenet.evaluation.metrics import (
    EvaluationResult,
    aggregate_tracks,
    compute_metrics,
    evaluate,
    track_labels,
)
from genrenet.evaluation.plots import (
    plot_confusion_matrix,
    plot_per_genre_accuracy,
    plot_top_k_accuracy,
    plot_training_curves,
    write_report,
)
from genrenet.training.history import best_epoch, load_history, merge_history

GTZAN = [
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def random_case(n: int, n_classes: int, seed: int = 0, signal: float = 1.5):
    """Labels and probabilities with the true class boosted, so accuracy is well above chance."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    logits = rng.normal(0, 1, (n, n_classes))
    logits[np.arange(n), y] += signal
    return y, softmax(logits)


def naive_top_k(y: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Top-k accuracy by counting, per row, the classes scored strictly higher than the true one."""
    hits = 0
    for row, label in zip(proba, y, strict=True):
        better = sum(1 for c in range(len(row)) if row[c] > row[label])
        hits += better < k
    return hits / len(y)


def png_ok(path: Path, min_side: int = 300) -> np.ndarray:
    """Read a PNG back and check it is a real, non-blank image of a sensible size."""
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min(image.shape[:2]) >= min_side
    assert float(image[..., :3].std()) > 0.01, "image is blank"
    return image


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------


def test_metrics_hand_checked_case():
    labels = ["a", "b", "c"]
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],  # a -> a (rank 0)
            [0.2, 0.5, 0.3],  # a -> b (true class ranked last)
            [0.3, 0.6, 0.1],  # b -> b
            [0.5, 0.4, 0.1],  # b -> a (true class second)
            [0.0, 0.6, 0.4],  # c -> b (true class second)
            [0.0, 1.0, 0.0],  # c -> b (p_true = 0, clipped)
        ]
    )
    m = compute_metrics(y, proba, labels)
    assert m["n"] == 6 and m["labels"] == labels
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["top_2_accuracy"] == pytest.approx(4 / 6)
    assert m["top_3_accuracy"] == pytest.approx(1.0)
    assert m["top_k_accuracy"] == pytest.approx([2 / 6, 4 / 6, 1.0])
    p_true = np.array([0.7, 0.2, 0.6, 0.4, 0.4, 1e-7])
    assert m["loss"] == pytest.approx(-np.mean(np.log(p_true)))
    assert m["confusion"] == [[1, 1, 0], [1, 1, 0], [0, 2, 0]]
    # precision of b: 1 of 4 predicted b are b; recall of b: 1 of 2.
    assert m["per_genre"]["b"]["precision"] == pytest.approx(0.25)
    assert m["per_genre"]["b"]["recall"] == pytest.approx(0.5)
    assert m["per_genre"]["b"]["f1"] == pytest.approx(2 * 0.25 * 0.5 / 0.75)
    assert m["per_genre"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["confusion_normalised"][2] == pytest.approx([0.0, 1.0, 0.0])
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("n_classes", [3, 4, 10])
def test_metrics_match_numpy(n_classes: int):
    y, proba = random_case(500, n_classes, seed=n_classes)
    m = compute_metrics(y, proba, [f"g{i}" for i in range(n_classes)])
    pred = proba.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(np.mean(pred == y))
    assert 0.3 < m["accuracy"] < 1.0  # the case is neither trivial nor chance
    ks = list(range(1, min(5, n_classes) + 1))
    assert m["top_k_accuracy"] == pytest.approx([naive_top_k(y, proba, k) for k in ks])
    assert m["top_2_accuracy"] == pytest.approx(naive_top_k(y, proba, 2))
    assert m["top_3_accuracy"] == pytest.approx(naive_top_k(y, proba, 3))
    assert m["loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(len(y)), y])))

    confusion = np.zeros((n_classes, n_classes), dtype=int)
    for t, p in zip(y, pred, strict=True):
        confusion[t, p] += 1
    assert np.array_equal(m["confusion"], confusion)
    assert np.sum(m["confusion"]) == len(y)
    assert np.allclose(np.sum(m["confusion_normalised"], axis=1), 1.0)

    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        precision = tp / max(np.sum(pred == c), 1)
        recall = tp / np.sum(y == c)
        f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
        f1s.append(f1)
        row = m["per_genre"][f"g{c}"]
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["support"] == np.sum(y == c)
    assert m["macro_f1"] == pytest.approx(np.mean(f1s))


def test_metrics_two_classes():
    y, proba = random_case(200, 2, seed=5)
    m = compute_metrics(y, proba, ["speech", "music"])
    assert len(m["top_k_accuracy"]) == 2
    assert m["top_k_accuracy"][0] == pytest.approx(np.mean(proba.argmax(1) == y))
    assert m["top_k_accuracy"][1] == m["top_2_accuracy"] == m["top_3_accuracy"] == 1.0


def test_ties_rank_like_argmax_so_top1_equals_accuracy():
    y = np.array([0, 1, 2, 2])
    proba = np.full((4, 3), 1 / 3)
    m = compute_metrics(y, proba, ["x", "y", "z"])
    assert m["accuracy"] == pytest.approx(0.25)  # argmax picks class 0 on ties
    assert m["top_k_accuracy"][0] == m["accuracy"]
    assert m["top_2_accuracy"] == pytest.approx(0.5)


def test_genre_without_support_has_zero_rows():
    y = np.array([0, 0, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1]])
    m = compute_metrics(y, proba, ["a", "b", "c"])
    assert m["per_genre"]["c"]["support"] == 0
    assert m["confusion_normalised"][2] == [0.0, 0.0, 0.0]
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)  # only genres with support


@pytest.mark.parametrize(
    ("y", "proba", "labels", "match"),
    [
        ([0, 1], [0.5, 0.5], ["a", "b"], "2-D"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"], "3 entries but there are 2 rows"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "b", "c"], "3 names but proba has 2 columns"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"], "class 2, outside 0..1"),
        ([0, 1], [[2.0, 3.0], [0.5, 0.5]], ["a", "b"], "row 0 sums to 5"),
        ([0, 1], [[np.nan, 1.0], [0.5, 0.5]], ["a", "b"], "non-finite"),
        ([0, 1], [[-0.5, 1.5], [0.5, 0.5]], ["a", "b"], "negative"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "a"], "unique"),
        ([0.5, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"], "integers"),
        ([], np.zeros((0, 2)), ["a", "b"], "no rows"),
        ([0], [[1.0]], ["a"], "at least 2 classes"),
    ],
)
def test_metrics_reject_bad_input(y, proba, labels, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(np.asarray(y), np.asarray(proba, dtype=float), labels)


# ----------------------------------------------------------------------------------------------
# Track aggregation
# ----------------------------------------------------------------------------------------------


def test_aggregate_tracks_is_the_mean_of_each_tracks_windows():
    _, proba = random_case(40, 4, seed=1)
    idx = np.random.default_rng(2).permutation(np.repeat(np.arange(8), 5))
    out = aggregate_tracks(proba, idx)
    assert out.shape == (8, 4)
    for t in range(8):
        assert np.allclose(out[t], proba[idx == t].mean(axis=0))
    assert np.allclose(out.sum(axis=1), 1.0)


def test_aggregate_tracks_refuses_empty_tracks_and_bad_shapes():
    proba = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match=r"1 track\(s\) have no windows: 1"):
        aggregate_tracks(proba, np.array([0, 2, 2]))
    with pytest.raises(ValueError, match="no windows: 3"):
        aggregate_tracks(proba, np.array([0, 1, 2]), n_tracks=4)
    with pytest.raises(ValueError, match="n_tracks is 2"):
        aggregate_tracks(proba, np.array([0, 1, 2]), n_tracks=2)
    with pytest.raises(ValueError, match="2 entries but there are 3 rows"):
        aggregate_tracks(proba, np.array([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        aggregate_tracks(proba, np.array([0, -1, 1]))


def test_track_labels_must_agree_within_a_track():
    assert track_labels(np.array([2, 2, 0, 1]), np.array([0, 0, 2, 1])).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match=r"track 0 carry different labels \[1, 2\]"):
        track_labels(np.array([2, 1, 0]), np.array([0, 0, 1]))


def test_evaluate_gives_segment_and_track_metrics():
    rng = np.random.default_rng(3)
    n_tracks, per = 60, 6
    y_track = rng.integers(0, 4, n_tracks)
    idx = np.repeat(np.arange(n_tracks), per)
    logits = rng.normal(0, 1.5, (n_tracks * per, 4))
    logits[np.arange(idx.size), y_track[idx]] += 1.0
    proba = softmax(logits)
    result = evaluate(proba, y_track[idx], ["a", "b", "c", "d"], idx, meta={"model": "test"})
    assert result.segment["n"] == n_tracks * per
    assert result.track["n"] == n_tracks
    means = np.stack([proba[idx == t].mean(0) for t in range(n_tracks)])
    assert result.track["accuracy"] == pytest.approx(np.mean(means.argmax(1) == y_track))
    # Averaging over a track removes window noise, so the track is right more often here.
    assert result.track["accuracy"] > result.segment["accuracy"]
    assert result.headline is result.track
    assert evaluate(proba, y_track[idx], ["a", "b", "c", "d"]).track is None


# ----------------------------------------------------------------------------------------------
# Result object and history
# ----------------------------------------------------------------------------------------------


def test_result_json_round_trip_and_summary(tmp_path: Path):
    y, proba = random_case(120, 5, seed=4)
    seg = compute_metrics(y, proba, GTZAN[:5])
    trk = compute_metrics(y[:30], proba[:30], GTZAN[:5])
    result = EvaluationResult(segment=seg, track=trk, meta={"dataset": "x"})
    path = result.to_json(tmp_path / "deep" / "metrics.json")
    assert EvaluationResult.from_json(path) == result
    assert json.loads(path.read_text())["track"]["n"] == 30
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temp file left

    rows = {name: (s, t) for name, s, t in result.summary_rows()}
    assert rows["accuracy"] == (f"{seg['accuracy']:.1%}", f"{trk['accuracy']:.1%}")
    assert rows["items"] == ("120", "30")
    only_segment = EvaluationResult(segment=seg).summary_rows()
    assert all(t == "-" for _, _, t in only_segment)


def test_from_json_rejects_other_files(tmp_path: Path):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="m.json: not valid JSON"):
        EvaluationResult.from_json(bad)
    bad.write_text('{"accuracy": 1}')
    with pytest.raises(ValueError, match="not an evaluation result"):
        EvaluationResult.from_json(bad)


def lightning_rows(n_epochs: int = 6) -> list[dict]:
    """History as Lightning's CSVLogger writes it: val and train on separate rows per epoch."""
    rows = []
    for e in range(n_epochs):
        val_loss = 1.0 + (e - 3) ** 2 / 10  # lowest at epoch 3
        rows.append({"epoch": e, "step": 10 * e, "val_loss": val_loss, "val_acc": 0.5 + e / 100})
        rows.append(
            {
                "epoch": e,
                "step": 10 * e,
                "train_loss_epoch": 2.0 - e / 10,
                "train_acc_epoch": 0.3 + e / 20,
                "val_loss": math.nan,
            }
        )
    rows.append({"step": 999, "train_loss_step": 0.1})  # no epoch: ignored
    return rows


def test_merge_history_joins_train_and_val_rows():
    merged = merge_history(lightning_rows())
    assert [r["epoch"] for r in merged] == [0, 1, 2, 3, 4, 5]
    assert merged[2]["train_loss"] == pytest.approx(1.8)
    assert merged[2]["val_loss"] == pytest.approx(1.1)  # NaN on the train row did not overwrite
    assert merged[4]["train_acc"] == pytest.approx(0.5)
    assert best_epoch(merged) == 3
    no_loss = [{**r, "val_loss": math.nan} for r in merged]
    assert best_epoch(no_loss) == 5  # falls back to highest val accuracy


def test_load_history_reads_lightning_csv_and_json(tmp_path: Path):
    rows = lightning_rows()
    keys = ["epoch", "step", "train_loss_epoch", "train_acc_epoch", "val_loss", "val_acc"]
    with open(tmp_path / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            )
    from_csv = merge_history(load_history(tmp_path / "metrics.csv"))
    direct = merge_history(rows)
    assert len(from_csv) == len(direct) == 6
    for a, b in zip(from_csv, direct, strict=True):
        assert a == pytest.approx(b)
    (tmp_path / "h.json").write_text(json.dumps(rows[:4], allow_nan=True))
    assert len(load_history(tmp_path / "h.json")) == 4
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_history(tmp_path / "nope.csv")


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 10, 16])
@pytest.mark.parametrize("normalised", [True, False])
def test_confusion_matrix_png(tmp_path: Path, n_classes: int, normalised: bool):
    y, proba = random_case(300, n_classes, seed=n_classes)
    labels = [f"genre-{i}" for i in range(n_classes)]
    m = compute_metrics(y, proba, labels)
    path = plot_confusion_matrix(m["confusion"], labels, tmp_path / "cm.png", normalised)
    image = png_ok(path)
    assert abs(image.shape[0] / image.shape[1] - 1) < 0.3  # roughly square
    if n_classes == 16:
        assert min(image.shape[:2]) > 1200  # grows with the number of genres
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png"]


def test_confusion_matrix_rejects_mismatch(tmp_path: Path):
    with pytest.raises(ValueError, match="3x3 but 2 labels"):
        plot_confusion_matrix(np.eye(3), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.ones((2, 3)), ["a", "b"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_training_curves_png(tmp_path: Path):
    png_ok(plot_training_curves(lightning_rows(20), tmp_path / "curves.png"))
    only_val = [{"epoch": e, "val_acc": 0.5} for e in range(3)]
    png_ok(plot_training_curves(only_val, tmp_path / "val.png"))
    with pytest.raises(ValueError, match="no rows with an 'epoch'"):
        plot_training_curves([{"step": 1}], tmp_path / "none.png")
    with pytest.raises(ValueError, match="none of"):
        plot_training_curves([{"epoch": 0, "lr": 0.1}], tmp_path / "none.png")


def test_per_genre_and_top_k_png(tmp_path: Path):
    y, proba = random_case(400, 10, seed=7)
    m = compute_metrics(y, proba, GTZAN)
    png_ok(plot_per_genre_accuracy(m, tmp_path / "per_genre.png"))
    png_ok(plot_top_k_accuracy(m, tmp_path / "top_k.png"))
    with pytest.raises(ValueError, match="lacks"):
        plot_per_genre_accuracy({"accuracy": 0.5}, tmp_path / "bad.png")


def test_write_report(tmp_path: Path):
    rng = np.random.default_rng(8)
    idx = np.repeat(np.arange(50), 4)
    y_track = rng.integers(0, 10, 50)
    logits = rng.normal(0, 1, (200, 10))
    logits[np.arange(200), y_track[idx]] += 2.0
    result = evaluate(softmax(logits), y_track[idx], GTZAN, idx)

    paths = write_report(result, lightning_rows(8), tmp_path / "report")
    expected = {
        "metrics": "metrics.json",
        "confusion_matrix": "confusion_matrix.png",
        "confusion_matrix_counts": "confusion_matrix_counts.png",
        "per_genre_accuracy": "per_genre_accuracy.png",
        "top_k_accuracy": "top_k_accuracy.png",
        "reliability": "reliability.png",
        "training_curves": "training_curves.png",
    }
    assert {k: p.name for k, p in paths.items()} == expected
    for key, path in paths.items():
        if key != "metrics":
            png_ok(path)
    assert EvaluationResult.from_json(paths["metrics"]) == result
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(expected.values())

    no_history = write_report(result, None, tmp_path / "plain")
    assert "training_curves" not in no_history
    assert not (tmp_path / "plain" / "training_curves.png").exists()


def test_import_stays_cheap():
    code = (
        "import sys, genrenet.evaluation.metrics; "
        "print('matplotlib' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
