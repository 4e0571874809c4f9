"""Grid search: TOML grids checked up front, cells scored by CV, resumable, results sorted."""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from genrenet.evaluation import crossval, grid
from genrenet.evaluation.grid import load_grid, run_grid
from genrenet.training.loop import TrainConfig

GRID_TOML = """
folds = 4
seed = 1
[grid]
features = ["logmel", "mfcc"]
model = ["cnn64", "resnet"]
batch_size = [16, 32]
lr = [0.001]
crop_seconds = [3.0]
[fixed]
max_epochs = 30
"""

TINY_TOML = """
folds = 2
seed = 0
[grid]
batch_size = [4, 8]
[fixed]
model = "lenet5"
crop_seconds = 1.0
max_epochs = 2
crops_per_track = 2
"""


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster without intra-op threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_combination_is_a_cell_with_a_stable_id(tmp_path: Path) -> None:
    spec = load_grid(write(tmp_path, GRID_TOML))
    assert spec.folds == 4 and spec.seed == 1 and spec.fixed == {"max_epochs": 30}
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2
    assert len({c.id for c in cells}) == 8
    combos = {(c.params["features"], c.params["model"], c.params["batch_size"]) for c in cells}
    assert len(combos) == 8
    assert all(c.params["max_epochs"] == 30 and c.params["lr"] == 0.001 for c in cells)
    assert [c.id for c in load_grid(write(tmp_path, GRID_TOML, "same.toml")).cells()] == [
        c.id for c in cells
    ]
    first = next(c for c in cells if c.varied["model"] == "cnn64" and c.varied["batch_size"] == 16)
    assert "cnn64" in first.id and "bs16" in first.id
    clf = spec.classifier(first)
    assert clf.train_config.batch_size == 16 and clf.train_config.max_epochs == 30
    assert clf.train_config.seed == 1  # the grid's seed is the default training seed
    changed = load_grid(write(tmp_path, GRID_TOML.replace("= 30", "= 31"), "other.toml"))
    assert not {c.id for c in changed.cells()} & {c.id for c in cells}


def test_unknown_parameter_lists_the_accepted_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GRID_TOML.replace("lr = ", "learning_rate = "))
    with pytest.raises(ValueError) as err:
        load_grid(path)
    message = str(err.value)
    assert str(path) in message and "learning_rate" in message
    for name in ("model", "features", "crop_seconds", "model_kwargs", "batch_size", "lr"):
        assert name in message.split("accepted:")[1]


def test_augment_needs_a_train_config_field(tmp_path: Path) -> None:
    text = GRID_TOML.replace("[fixed]", 'augment = ["none", "specaugment"]\n[fixed]')
    path = write(tmp_path, text)
    if "augment" in {f.name for f in fields(TrainConfig)}:
        try:
            spec = load_grid(path)
        except ValueError as err:  # a value the integrated augmentation does not know
            assert "augment" in str(err)
        else:
            assert {c.params["augment"] for c in spec.cells()} == {"none", "specaugment"}
    else:
        with pytest.raises(ValueError, match="augment is not supported by this version"):
            load_grid(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GRID_TOML.replace('"resnet"', '"nosuchnet"'), "unknown model 'nosuchnet'"),
        (GRID_TOML.replace("[fixed]", '[fixed]\noptimizer = "sgd"'), "optimizer must be"),
        (GRID_TOML.replace("batch_size = [16, 32]", "batch_size = [0]"), "batch_size must be"),
        (GRID_TOML.replace("folds = 4", "folds = 1"), "folds must be an integer >= 2"),
        (GRID_TOML.replace("lr = [0.001]", "lr = []"), "grid.lr is an empty list"),
        (GRID_TOML.replace("[fixed]", "[fixed]\nlr = 0.01"), "set in both"),
        (GRID_TOML.replace("[fixed]", "[fixed]\nmodel_kwargs = {width = 3}"), "no option"),
        (GRID_TOML.replace("seed = 1", "epochs = 3"), "unknown top-level key"),
        ("[grid\nmodel = 1", "not valid TOML"),
    ],
)
def test_bad_grids_are_clear_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=expected) as err:
        load_grid(path)
    assert str(path) in str(err.value)


def test_missing_grid_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="grid file not found"):
        load_grid(tmp_path / "nope.toml")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    from genrenet.data.synth import generate_collection

    root = tmp_path_factory.mktemp("synthetic")
    generate_collection(root, n_genres=3, clips_per_genre=6, seconds=4.0, seed=0)
    return root


@pytest.fixture(scope="module")
def resumed_grid(synthetic: Path, tmp_path_factory):
    """A 2-cell x 2-fold grid stopped twice (after a cell; Ctrl-C inside a cell), then resumed.

    Records which cells were cross-validated and which folds trained at each stage.
    """
    base = tmp_path_factory.mktemp("grid")
    spec = load_grid(write(base, TINY_TOML))
    out, cache = base / "out", base / "cache"
    calls: dict[str, list] = {"cv": [], "folds": []}
    real_cv, real_train = grid.cross_validate, crossval.train_on_split

    def counting_cv(classifier, data, **kwargs):
        calls["cv"].append(Path(kwargs["out_dir"]).name)
        return real_cv(classifier, data, **kwargs)

    def counting_train(classifier, loaded, fold, out_dir, **kwargs):
        calls["folds"].append(Path(out_dir))
        return real_train(classifier, loaded, fold, out_dir, **kwargs)

    def stop(row):
        raise RuntimeError("stopped after one cell")

    def interrupt(fold):  # Ctrl-C after the first fold of the second cell
        raise KeyboardInterrupt

    stages = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grid, "cross_validate", counting_cv)
        mp.setattr(crossval, "train_on_split", counting_train)
        with pytest.raises(RuntimeError, match="stopped after one cell"):
            run_grid(synthetic, spec, out, cache=cache, on_cell=stop)
        stages["after_stop"] = {
            "cv": list(calls["cv"]),
            "folds": len(calls["folds"]),
            "state": json.loads((out / "grid.json").read_text()),
            "csv_rows": len(list(csv.DictReader((out / "results.csv").open()))),
        }
        with pytest.raises(KeyboardInterrupt):
            run_grid(synthetic, spec, out, cache=cache, on_fold=interrupt)
        stages["after_interrupt"] = {"cv": list(calls["cv"]), "folds": len(calls["folds"])}
        rows = run_grid(synthetic, spec, out, cache=cache)
        stages["resumed"] = {"cv": list(calls["cv"]), "folds": list(calls["folds"])}
        again = run_grid(synthetic, spec, out, cache=cache)
    return spec, out, rows, again, stages, calls


def test_interrupted_grid_resumes_without_rerunning(resumed_grid) -> None:
    spec, out, rows, again, stages, calls = resumed_grid
    first, second = (c.id for c in spec.cells())
    stopped = stages["after_stop"]
    assert stopped["cv"] == [first] and stopped["folds"] == 2
    assert list(stopped["state"]["cells"]) == [first] and stopped["csv_rows"] == 1
    assert stages["after_interrupt"] == {"cv": [first, second], "folds": 3}
    resumed = stages["resumed"]
    assert resumed["cv"] == [first, second, second]
    assert resumed["folds"][3:] == [out / "cells" / second / "fold-2"]  # fold 1 was reused
    assert sorted(r["id"] for r in rows) == sorted([first, second])
    assert again == rows and calls["cv"] == resumed["cv"] and len(calls["folds"]) == 4


def test_results_are_sorted_and_match_each_cells_cv(resumed_grid) -> None:
    spec, out, rows, _, _, _ = resumed_grid
    accuracy = [r["track_accuracy_mean"] for r in rows]
    assert accuracy == sorted(accuracy, reverse=True)
    assert [r["rank"] for r in rows] == [1, 2]
    table = list(csv.DictReader((out / "results.csv").open()))
    assert [t["id"] for t in table] == [r["id"] for r in rows]
    assert [int(t["batch_size"]) for t in table] == [r["params"]["batch_size"] for r in rows]
    for row in rows:
        cv = json.loads((out / "cells" / row["id"] / "cv.json").read_text())
        assert cv["settings"]["train"]["batch_size"] == row["params"]["batch_size"]
        assert cv["settings"]["folds"] == spec.folds == row["folds"]
        assert cv["summary"]["track_accuracy_mean"] == pytest.approx(row["track_accuracy_mean"])
        assert cv["summary"]["track_accuracy_std"] == pytest.approx(row["track_accuracy_std"])
        assert cv["pooled"]["track"]["accuracy"] == pytest.approx(row["pooled_track_accuracy"])
    text = (out / "results.md").read_text()
    assert "2 of 2 cells finished" in text
    body = [line for line in text.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert [line.split(" | ")[-1] for line in body] == [f"`{r['id']}` |" for r in rows]
