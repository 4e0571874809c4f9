"""``genrenet report``: one page for a run, a cross-validation or a grid folder."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from genrenet.classifier import Classifier
from genrenet.data.synth import generate_collection
from genrenet.data.tracks import Track
from genrenet.evaluation.crossval import CV_FILE, CVResult, FoldResult, summarise
from genrenet.evaluation.grid import STATE_FILE, GridSpec, write_results
from genrenet.evaluation.metrics import EvaluationResult, compute_metrics
from genrenet.report import (
    FIGURE_FILES,
    SECTION_IDS,
    build_report,
    genre_means,
    plan_report,
    pool_metrics,
    standardise_rows,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_FIGURES = (
    "curves_best",
    "confusion_matrix",
    "per_genre_accuracy",
    "reliability",
    "genre_averages",
    "track_map",
    "top_k_accuracy",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A tiny synthetic collection and a two-epoch lenet5 run on it: (data, run, cache)."""
    base = tmp_path_factory.mktemp("report")
    data, run, cache = base / "synthetic", base / "run", base / "cache"
    generate_collection(data, n_genres=3, clips_per_genre=6, seconds=4.0, seed=0)
    clf = Classifier(
        model="lenet5", crop_seconds=1.0, max_epochs=2, batch_size=8, crops_per_track=2
    )
    clf.fit(data, out_dir=run, cache=cache, progress=False)
    return data, run, cache


@pytest.fixture(scope="module")
def run_report(trained) -> tuple[dict[str, Path], str]:
    """The report of the trained run, built once: (files, html text)."""
    _, run, cache = trained
    files = build_report(run, cache=cache)
    return files, files["html"].read_text(encoding="utf-8")


def copy_run(run: Path, dest: Path) -> Path:
    """A copy of a run folder without its checkpoints."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("checkpoints", "report"))
    return dest


def section(page: str, section_id: str) -> str:
    """The HTML of one section of the page."""
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"section {section_id} missing"
    return match.group(1)


def embedded_pngs(page: str) -> list[bytes]:
    """The decoded bytes of every image embedded in the page."""
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def make_crossval(run: Path, dest: Path, accuracies: list[float], data: Path) -> Path:
    """A cross-validation folder as crossval.py writes it: fold-K run folders and cv.json.

    Each fold is a copy of ``run``; cv.json is written by crossval's own CVResult, with fold K's
    track accuracy set to ``accuracies[K - 1]``.
    """
    metrics = EvaluationResult.from_json(run / "metrics.json")
    folds = []
    for k, acc in enumerate(accuracies, start=1):
        copy_run(run, dest / f"fold-{k}")
        track = {**metrics.track, "accuracy": acc, "macro_f1": acc - 0.05}
        folds.append(
            FoldResult(k, 12, 2, 6, track, metrics.segment, [], np.zeros(0), np.zeros((0, 3)))
        )
    settings = {
        "data": str(data),
        "model": "lenet5",
        "model_kwargs": {},
        "features": {"kind": "logmel"},
        "train": {"max_epochs": 2},
        "folds": len(accuracies),
        "seed": 0,
        "split": "cv-stratified",
        "tracks": 18,
        "labels": metrics.track["labels"],
        "leaky": False,
    }
    pooled = {"track": metrics.track, "segment": metrics.segment}
    rows = [f.row() for f in folds]
    CVResult(settings, folds, summarise(rows), pooled, notes=["a note"]).to_json(dest / CV_FILE)
    return dest


# --------------------------------------------------------------------------------------------
# a training run
# --------------------------------------------------------------------------------------------


def test_run_report_has_every_section_and_figure(trained, run_report) -> None:
    _, run, _ = trained
    files, page = run_report
    assert files["html"] == run / "report" / "report.html"
    assert files["markdown"] == run / "report" / "report.md"
    for section_id in SECTION_IDS:
        assert f'<section id="{section_id}">' in page
    assert page.count("<img ") == len(ALL_FIGURES)
    for key in ALL_FIGURES:
        assert files[key] == run / "report" / FIGURE_FILES[key]
        assert f'id="fig-{key}"' in page
    assert 'class="missing"' not in page, re.findall(r'class="missing">([^<]*)', page)
    # the page is self-contained: each embedded image is exactly one of the PNG files
    pngs = embedded_pngs(page)
    on_disk = {files[key].read_bytes() for key in ALL_FIGURES}
    assert set(pngs) == on_disk and len(pngs) == len(on_disk)


def test_run_report_figures_are_valid_pngs(run_report) -> None:
    from matplotlib.image import imread

    files, _ = run_report
    for key in ALL_FIGURES:
        assert files[key].read_bytes()[:8] == PNG_MAGIC
        image = imread(files[key])
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
        assert float(image[..., :3].std()) > 0.01  # not a blank canvas


def test_run_report_markdown_links_existing_files(run_report) -> None:
    files, _ = run_report
    text = files["markdown"].read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == len(ALL_FIGURES)
    for link in links:
        assert not Path(link).is_absolute()
        assert (files["markdown"].parent / link).is_file()
    for title in ("## Results", "## Training and validation curves", "## Top-k accuracy"):
        assert title in text


def test_run_report_tables_and_settings_match_the_run(trained, run_report) -> None:
    data, run, _ = trained
    _, page = run_report
    metrics = json.loads((run / "metrics.json").read_text())
    results = section(page, "results")
    for level in ("segment", "track"):
        assert f"{metrics[level]['accuracy']:.1%}" in results
    about = section(page, "about")
    assert "lenet5" in about and "logmel" in about
    assert "stratified" in about  # the split method from split.json
    assert "SYNTHETIC" in page.split("<nav>")[0]  # said up front, from the collection's README
    per_genre = section(page, "confusion")
    for genre, row in metrics["track"]["per_genre"].items():
        assert genre in per_genre
        assert f"{row['recall']:.1%}" in per_genre


def test_track_map_marks_every_test_track(trained, run_report) -> None:
    _, run, _ = trained
    _, page = run_report
    n_test = len(json.loads((run / "split.json").read_text())["test"])
    assert f"the {n_test} test tracks" in section(page, "track-map")
    assert "embedding of the run&#x27;s model (lenet5)" in section(page, "track-map")


def test_missing_data_is_said_plainly_and_data_option_overrides(trained, tmp_path) -> None:
    data, run, cache = trained
    copy = copy_run(run, tmp_path / "run")
    config_file = copy / "model" / "config.json"
    config = json.loads(config_file.read_text())
    config["training"]["data"] = str(tmp_path / "gone")
    config_file.write_text(json.dumps(config))

    files = build_report(copy, cache=cache)
    page = files["html"].read_text()
    assert "genre_averages" not in files and "track_map" not in files
    for section_id in ("genre-averages", "track-map"):
        assert "was not found; pass --data" in section(page, section_id)
    assert page.count("<img ") == len(ALL_FIGURES) - 2
    assert "whether it is synthetic is unknown" in page

    files = build_report(copy, out=tmp_path / "elsewhere", data=data, cache=cache)
    assert files["html"].parent == tmp_path / "elsewhere"
    assert files["html"].read_text().count("<img ") == len(ALL_FIGURES)
    with pytest.raises(FileNotFoundError, match="gone-too"):
        build_report(copy, data=tmp_path / "gone-too", cache=cache)


def test_not_a_report_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a genrenet run, cross-validation or grid folder"):
        build_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        build_report(tmp_path / "nope")
    (tmp_path / "metrics.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"metrics.json: not valid JSON"):
        build_report(tmp_path)


# --------------------------------------------------------------------------------------------
# the computations behind the figures
# --------------------------------------------------------------------------------------------


def test_genre_means_average_the_first_frames_and_count_short_tracks() -> None:
    rng = np.random.default_rng(0)
    a1, a2 = rng.normal(size=(4, 10)), rng.normal(size=(4, 6))
    b1 = rng.normal(size=(4, 12))
    loaded = [
        (Track(Path("a1.wav"), "a"), a1),
        (Track(Path("a2.wav"), "a"), a2),
        (Track(Path("b1.wav"), "b"), b1),
    ]
    means = genre_means(loaded, frames=8)
    assert sorted(means) == ["a", "b"]
    np.testing.assert_allclose(means["b"], b1[:, :8], rtol=1e-6)
    np.testing.assert_allclose(means["a"][:, :6], (a1[:, :6] + a2) / 2, rtol=1e-5)
    np.testing.assert_allclose(means["a"][:, 6:], a1[:, 6:8], rtol=1e-6)  # only a1 reaches them


def test_standardised_rows_share_one_scale_across_genres() -> None:
    rng = np.random.default_rng(1)
    scale = np.array([[300.0], [40.0], [2.0]])  # MFCC 0 dwarfs the others, as in real MFCCs
    means = {g: scale * rng.normal(loc=i, size=(3, 20)) for i, g in enumerate(["a", "b", "c"])}
    z = standardise_rows(means)
    stacked = np.concatenate([z[g] for g in ("a", "b", "c")], axis=1)
    np.testing.assert_allclose(stacked.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(stacked.std(axis=1), 1.0, rtol=1e-4)
    # genre "c" sits above "a" on every coefficient, as in the raw values
    assert np.all(z["c"].mean(axis=1) > z["a"].mean(axis=1))


def test_pooled_metrics_equal_metrics_of_the_pooled_items() -> None:
    rng = np.random.default_rng(3)
    labels = ["blues", "jazz", "rock", "pop"]
    parts, ys, ps = [], [], []
    for n in (9, 14, 7):
        y = rng.integers(0, len(labels), n)
        p = rng.dirichlet(np.ones(len(labels)), n)
        p[np.arange(n), y] += rng.uniform(0, 1.0, n)  # some skill
        p /= p.sum(axis=1, keepdims=True)
        parts.append(compute_metrics(y, p, labels))
        ys.append(y)
        ps.append(p)
    pooled = pool_metrics(parts)
    whole = compute_metrics(np.concatenate(ys), np.concatenate(ps), labels)
    assert pooled["confusion"] == whole["confusion"]
    assert pooled["n"] == whole["n"]
    for key in ("accuracy", "macro_f1", "balanced_accuracy", "macro_precision"):
        assert pooled[key] == pytest.approx(whole[key]), key
    np.testing.assert_allclose(pooled["top_k_accuracy"], whole["top_k_accuracy"])
    for genre in labels:
        for key in ("precision", "recall", "f1", "support"):
            assert pooled["per_genre"][genre][key] == pytest.approx(whole["per_genre"][genre][key])
    with pytest.raises(ValueError, match="different genres"):
        pool_metrics([parts[0], {**parts[1], "labels": ["a", "b", "c", "d"]}])


# --------------------------------------------------------------------------------------------
# cross-validation and grid folders (hand-made, in the shapes crossval.py and grid.py write)
# --------------------------------------------------------------------------------------------


def test_crossval_report_picks_best_and_worst_fold(trained, tmp_path) -> None:
    data, run, cache = trained
    cv = make_crossval(run, tmp_path / "cv", [0.5, 0.9, 0.7], data)
    plan = plan_report(cv)
    assert plan.kind == "cv"
    assert [r.folder.name for _, r in plan.curves] == ["fold-2", "fold-1"]
    assert plan.model_run.folder.name == "fold-2"

    files = build_report(cv, cache=cache)
    page = files["html"].read_text()
    results = section(page, "results")
    assert re.search(r'<tr class="best"><td>2</td>(<td>[^<]*</td>){3}<td>90.0%</td>', results)
    assert re.search(r'<tr class="worst"><td>1</td>(<td>[^<]*</td>){3}<td>50.0%</td>', results)
    summary = re.search(r'<tr class="summary">(.*?)</tr>', results).group(1)
    assert "<td>70.0% ± 20.0%</td>" in summary  # mean ± sample std of 50, 90, 70 %
    assert "Best fold: fold 2 (90.0% track accuracy); worst fold: fold 1 (50.0%)" in results
    curves = section(page, "curves")
    assert curves.count("<img ") == 2 and "best fold: fold 2" in curves
    assert "worst fold: fold 1" in curves
    assert "the test tracks of all 3 folds, pooled" in section(page, "confusion")
    assert page.count("<img ") == len(ALL_FIGURES) + 1
    about = section(page, "about")
    assert "cross-validation: folds" in about and "a note" in about
    md = files["markdown"].read_text()
    assert "| **2** (best) |" in md and "| **1** (worst) |" in md


def test_crossval_without_rows_or_pooled_metrics_reads_the_folds(trained, tmp_path) -> None:
    data, run, _ = trained
    cv = make_crossval(run, tmp_path / "cv", [0.6, 0.6], data)
    (cv / CV_FILE).write_text(json.dumps({"status": "running", "settings": {"folds": 2}}))
    # make fold 1 the weaker one by rewriting the folds' metrics
    for fold, accuracy in (("fold-1", 0.25), ("fold-2", 0.75)):
        metrics = json.loads((cv / fold / "metrics.json").read_text())
        metrics["track"]["accuracy"] = accuracy
        (cv / fold / "metrics.json").write_text(json.dumps(metrics))
    plan = plan_report(cv)
    assert [r.folder.name for _, r in plan.curves] == ["fold-2", "fold-1"]
    run_confusion = np.array(json.loads((run / "metrics.json").read_text())["track"]["confusion"])
    assert plan.metrics["confusion"] == (2 * run_confusion).tolist()
    assert "This cross-validation is running: 2 fold(s) so far." in plan.results


def write_grid(trained, tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A grid folder as grid.py writes it: cells/<id>/ cross-validations, results.csv, grid.json."""
    data, run, _ = trained
    grid = tmp_path / "grid"
    cells = {"lr0.01-lenet5-0a1b2c3d": 0.55, "lr0.001-cnn64-4e5f6a7b": 0.85}
    cells["lr0.001-lenet5-8c9d0e1f"] = 0.7
    rows = []
    for cell, acc in cells.items():
        make_crossval(run, grid / "cells" / cell, [acc - 0.05, acc + 0.05], data)
        lr, model = cell.split("-")[:2]
        rows.append(
            {
                "id": cell,
                "params": {"lr": float(lr[2:]), "model": model},
                "track_accuracy_mean": acc,
                "track_accuracy_std": 0.0707,
                "track_macro_f1_mean": acc - 0.05,
                "track_macro_f1_std": 0.0707,
                "segment_accuracy_mean": acc - 0.1,
                "pooled_track_accuracy": acc,
                "folds": 2,
            }
        )
    rows.sort(key=lambda r: -r["track_accuracy_mean"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    spec = GridSpec({"lr": [0.01, 0.001], "model": ["lenet5", "cnn64"]}, {"max_epochs": 2}, 2)
    write_results(rows, spec, grid)
    state = {"cells": {r["id"]: r for r in rows}, "spec": spec.to_dict(), "data": str(data)}
    (grid / STATE_FILE).write_text(json.dumps(state))
    return grid, cells


def test_grid_report_lists_all_cells_and_uses_best_and_worst(trained, tmp_path) -> None:
    _, _, cache = trained
    grid, cells = write_grid(trained, tmp_path)
    best, worst = "lr0.001-cnn64-4e5f6a7b", "lr0.01-lenet5-0a1b2c3d"
    plan = plan_report(grid)
    assert plan.kind == "grid"
    best_run, worst_run = (r.folder for _, r in plan.curves)
    assert best_run == grid / "cells" / best / "fold-1"
    assert worst_run == grid / "cells" / worst / "fold-1"
    assert f"best cell {best}" in plan.metrics_source

    files = build_report(grid, cache=cache)
    page = files["html"].read_text()
    results = section(page, "results")
    table = results.split("</table>")[0]
    assert table.count("<tr") == len(cells) + 1  # header + one row per cell
    assert f'<tr class="best"><td>1</td><td>{best}</td>' in table
    assert f'<tr class="worst"><td>3</td><td>{worst}</td>' in table
    assert "<th>track acc (mean ± std)</th>" in table and "85.0% ± 7.1%" in table
    assert f"Best cell: {best} (85.0% mean accuracy); worst cell: {worst} (55.0%)" in results
    assert section(page, "curves").count("<img ") == 2
    for section_id in SECTION_IDS:
        assert f'<section id="{section_id}">' in page
    assert page.count("<img ") == len(ALL_FIGURES) + 1
    assert "grid values: model" in section(page, "about")
    for path in files.values():
        assert path.is_file()


# --------------------------------------------------------------------------------------------
# how a run ended
# --------------------------------------------------------------------------------------------


def test_a_run_bounded_by_epochs_records_it_and_the_report_raises_no_alarm(
    trained, run_report
) -> None:
    _, run, _ = trained
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["training"]["stopped_by"] == "max_epochs"
    assert config["training"]["epochs_run"] == 2
    assert "CUT SHORT" not in run_report[1]


def test_a_run_cut_short_by_its_time_limit_says_so_first(trained, tmp_path) -> None:
    data, _, cache = trained
    clf = Classifier(
        model="lenet5",
        crop_seconds=1.0,
        max_epochs=50,
        batch_size=8,
        crops_per_track=2,
        max_minutes=1e-6,
    )
    clf.fit(data, out_dir=tmp_path / "run", cache=cache, progress=False)
    assert clf.metadata["stopped_by"] == "max_minutes"
    assert clf.metadata["epochs_run"] < 50
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["training"]["stopped_by"] == "max_minutes"

    page = build_report(tmp_path / "run", cache=cache)["html"].read_text()
    lead = page.split("<nav>")[0]
    assert "CUT SHORT by its time limit (--max-minutes 1e-06)" in lead
    assert "of at most 50 epochs" in lead

    # a cross-validation names the folds that were cut short, before anything else
    cv = make_crossval(tmp_path / "run", tmp_path / "cv", [0.5, 0.6], data)
    lead = build_report(cv, cache=cache)["html"].read_text().split("<nav>")[0]
    assert "Training of fold 1 was CUT SHORT" in lead and "fold 2" in lead


def test_a_report_of_one_fold_reads(trained, tmp_path) -> None:
    data, run, cache = trained
    cv = make_crossval(run, tmp_path / "cv", [0.8], data)
    files = build_report(cv, cache=cache)
    page = files["html"].read_text()
    assert "Best fold: fold 1 (80.0% track accuracy)." in section(page, "results")
    assert "worst fold" not in section(page, "results")
    assert section(page, "curves").count("<img ") == 1
