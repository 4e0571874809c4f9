"""Plots read well at the edges: one epoch, one track, one genre with tracks, one class shown.

Each figure is captured just before it is saved, so its axes can be checked (whole-epoch
ticks, distinct percentage labels, limits that hold the data); the PNG is written as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrenet.evaluation import plots
from genrenet.evaluation.metrics import evaluate
from genrenet.evaluation.plots import (
    plot_confusion_matrix,
    plot_per_genre_accuracy,
    plot_training_curves,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def captured(monkeypatch) -> list:
    """Every figure's tick labels and limits, read just before the figure is saved."""
    seen: list[dict] = []
    save = plots.save_png

    def spy(fig, path):
        fig.canvas.draw()
        seen.append(
            {
                "name": Path(path).name,
                "axes": [
                    {
                        "xticks": list(ax.get_xticks()),
                        "xlim": ax.get_xlim(),
                        "ylim": ax.get_ylim(),
                        "ylabels": [t.get_text() for t in ax.get_yticklabels()],
                        "xlabels": [t.get_text() for t in ax.get_xticklabels()],
                        "texts": [t.get_text() for t in ax.texts],
                    }
                    for ax in fig.axes
                ],
            }
        )
        return save(fig, path)

    monkeypatch.setattr(plots, "save_png", spy)
    return seen


def one_epoch() -> list[dict]:
    return [
        {"epoch": 0, "train_loss": 2.0, "train_acc": 0.39},
        {"epoch": 0, "val_loss": 1.9, "val_acc": 0.39},
    ]


def test_training_curves_of_one_epoch_have_one_whole_epoch_tick(tmp_path, captured) -> None:
    path = plot_training_curves(one_epoch(), tmp_path / "curves.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    loss, acc = captured[0]["axes"]
    for ax in (loss, acc):
        assert ax["xticks"] == [0.0]  # not -0.4 ... 0.4, nor an axis scaled by 1e-17
        assert ax["xlim"] == (-0.5, 0.5)
    # distinct percentage ticks around 39%, not five ticks all labelled "39%"
    labels = [x for x in acc["ylabels"] if x]
    assert len(labels) >= 3 and len(set(labels)) == len(labels)
    lo, hi = acc["ylim"]
    assert lo < 0.39 < hi and hi - lo >= 0.2
    lo, hi = loss["ylim"]
    assert lo < 1.9 and hi > 2.0 and len(set(loss["ylabels"])) == len(loss["ylabels"])


def test_flat_accuracy_at_100_percent_stays_inside_the_axis(tmp_path, captured) -> None:
    rows = [
        {"epoch": e, "train_loss": 0.1, "val_loss": 0.1, "train_acc": 1.0, "val_acc": 1.0}
        for e in range(3)
    ]
    plot_training_curves(rows, tmp_path / "curves.png")
    _, acc = captured[0]["axes"]
    lo, hi = acc["ylim"]
    assert lo < 1.0 < hi and hi <= 1.05 and hi - lo >= 0.2
    assert acc["xticks"] == [0.0, 1.0, 2.0]


def test_many_epochs_keep_whole_epoch_ticks(tmp_path, captured) -> None:
    rows = [{"epoch": e, "val_loss": 1.0 / (e + 1), "val_acc": e / 40} for e in range(40)]
    plot_training_curves(rows, tmp_path / "curves.png")
    ticks = captured[0]["axes"][0]["xticks"]
    assert 3 <= len(ticks) <= 12 and all(float(t).is_integer() for t in ticks)


def test_report_of_one_track_and_one_genre_with_tracks(tmp_path, captured) -> None:
    """A run whose test set is a single track: every figure is drawn and says what it holds."""
    labels = [f"genre-{i}" for i in range(8)]
    proba = np.full((3, 8), 0.05)
    proba[:, 2] = 0.65
    result = evaluate(proba, np.array([2, 2, 2]), labels, np.zeros(3, dtype=int))
    paths = write_report(result, one_epoch(), tmp_path)
    for key, path in paths.items():
        if key != "metrics":
            assert path.read_bytes()[:8] == PNG_MAGIC, key
    figures = {f["name"]: f["axes"] for f in captured}
    per_genre = figures["per_genre_accuracy.png"][0]["texts"]
    assert "100%  (n=1)" in per_genre
    # genres the test set does not hold are said to be absent, not drawn as 0% recall
    assert per_genre.count("no tracks of this genre") == 7
    assert not any(t.startswith("0%") for t in per_genre)


def test_one_class_confusion_and_per_genre_plots(tmp_path, captured) -> None:
    path = plot_confusion_matrix([[5]], ["rock"], tmp_path / "cm.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert "100%\n(5)" in captured[0]["axes"][0]["texts"]
    metrics = {"accuracy": 1.0, "per_genre": {"rock": {"recall": 1.0, "support": 5}}}
    plot_per_genre_accuracy(metrics, tmp_path / "pg.png")
    assert captured[1]["axes"][0]["texts"] == ["100%  (n=5)"]
