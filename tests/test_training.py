"""Training learns; the bundle round-trips; prediction and evaluation work from Python and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from genrenet.classifier import BundleError, Classifier
from genrenet.cli import app
from genrenet.data.synth import generate_collection

GENRES = 6


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """6 synthetic genres x 12 clips x 6 s, generated once for this module."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_collection(root, n_genres=GENRES, clips_per_genre=12, seconds=6.0, seed=1)
    return root


@pytest.fixture(scope="module")
def trained(synthetic: Path, tmp_path_factory):
    """One short, seeded training run of cnn64 shared by the tests below."""
    run = tmp_path_factory.mktemp("run")
    clf = Classifier(
        model="cnn64",
        crop_seconds=2.0,
        max_epochs=12,
        batch_size=16,
        crops_per_track=3,
        patience=6,
        lr=2e-3,
        seed=0,
    )
    outcome = clf.fit(synthetic, out_dir=run, cache=run / "cache", progress=False).outcome_
    return clf, outcome, run


def test_short_training_learns_the_synthetic_genres(trained) -> None:
    clf, outcome, _ = trained
    assert outcome.split.method == "stratified"
    assert len(outcome.split.test) >= 12
    assert outcome.evaluation.track["accuracy"] >= 0.9
    assert outcome.evaluation.track["n"] == len(outcome.split.test)
    assert clf.labels == sorted(clf.labels) and len(clf.labels) == GENRES
    losses = [row["train_loss"] for row in outcome.history if "train_loss" in row]
    assert losses[-1] < losses[0] * 0.5


def test_run_folder_has_model_metrics_plots_split(trained) -> None:
    _, outcome, run = trained
    for name in (
        "metrics.json",
        "split.json",
        "confusion_matrix.png",
        "training_curves.png",
        "per_genre_accuracy.png",
        "model/config.json",
        "model/model.safetensors",
        "logs/metrics.csv",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).exists(), name
    split = json.loads((run / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["training"]["split"]["method"] == "stratified"
    assert len(config["normalization"]["mean"]) == 128
    # every trained model is calibrated on its validation tracks, and says so
    calibration = config["calibration"]
    assert calibration["method"] == "temperature" and calibration["temperature"] > 0
    assert calibration["n_tracks"] == len(split["valid"])
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-9
    assert "intervals" in json.loads((run / "metrics.json").read_text())["track"]
    # where it trained (Lightning's "auto": the GPU when one is visible) and how well
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config["training"]["device"].startswith(expected)
    assert config["training"]["test_track_accuracy"] == outcome.evaluation.track["accuracy"]


def test_save_load_round_trip_gives_identical_predictions(trained, synthetic, tmp_path) -> None:
    clf, outcome, run = trained
    files = sorted(synthetic.rglob("*.wav"))[::9]
    before = clf.predict_proba(files)
    loaded = Classifier.load(run)  # a run folder resolves to its model/
    after = loaded.predict_proba(files)
    np.testing.assert_array_equal(before, after)
    assert loaded.temperature == clf.temperature != 1.0
    assert loaded.predict(files) == [clf.labels[i] for i in before.argmax(1)]
    clf.save(tmp_path / "again")
    np.testing.assert_array_equal(Classifier.load(tmp_path / "again").predict_proba(files), before)


def test_tampered_bundles_fail_clearly(trained, tmp_path) -> None:
    clf, _, _ = trained
    good = clf.save(tmp_path / "model")

    def copy(name: str) -> Path:
        target = tmp_path / name
        clf.save(target)
        return target

    bad = copy("labels")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["labels"] = cfg["labels"] + ["polka"]
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="shape"):
        Classifier.load(bad)

    bad = copy("json")
    (bad / "config.json").write_text("{ not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Classifier.load(bad)

    bad = copy("weights")
    state = load_file(bad / "model.safetensors")
    state.pop(sorted(state)[0])
    save_file(state, bad / "model.safetensors")
    with pytest.raises(BundleError, match="missing tensors"):
        Classifier.load(bad)

    bad = copy("corrupt")
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(BundleError, match="corrupt"):
        Classifier.load(bad)

    bad = copy("arch")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["architecture"]["name"] = "transformer9000"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="unknown architecture"):
        Classifier.load(bad)
    assert Classifier.load(good).labels == clf.labels


def test_predict_cli_json_timeline_and_bad_files(trained, synthetic, tmp_path) -> None:
    _, _, run = trained
    genre = sorted(p.name for p in synthetic.iterdir() if p.is_dir())[0]
    good = sorted((synthetic / genre).glob("*.wav"))[0]
    (tmp_path / "broken.wav").write_text("not audio at all")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(good),
            str(tmp_path / "broken.wav"),
            "--model",
            str(run),
            "--json",
            "--timeline",
            "--hop",
            "1.0",
            "--top-k",
            "2",
        ],
    )
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert [Path(o["path"]).name for o in out] == [good.name, "broken.wav"]
    assert len(out[0]["top"]) == 2 and out[0]["error"] is None
    assert out[0]["top"][0]["score"] >= out[0]["top"][1]["score"]
    timeline = out[0]["timeline"]
    assert timeline[0]["start"] == 0.0 and timeline[-1]["end"] == pytest.approx(6.0, abs=0.05)
    assert len(timeline) == 5  # 2 s windows every 1 s over 6 s
    assert out[1]["top"] == [] and "not an audio file" in out[1]["error"]


def test_predict_long_file_streams_and_evaluate_cli(trained, synthetic, tmp_path) -> None:
    import soundfile as sf

    clf, _, run = trained
    genre = clf.labels[0]
    clips = sorted((synthetic / genre).glob("*.wav"))[:6]
    long = np.concatenate([sf.read(c, dtype="float32")[0] for c in clips])
    sf.write(tmp_path / "long.flac", long, 22050)
    pred = clf.predict_file(tmp_path / "long.flac", timeline=True)
    assert pred.error is None and len(pred.timeline) == 18  # 36 s in 2 s windows
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(synthetic),
            "--model",
            str(run),
            "--cache",
            str(tmp_path / "c"),
            "--out",
            str(tmp_path / "ev"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ev" / "confusion_matrix.png").exists()
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["track"]["n"] == GENRES * 12
    # every track but the test ones was used to fit the model (training or validation): said
    split = json.loads((run / "split.json").read_text())
    fitted = len(split["train"]) + len(split["valid"])
    assert len(
        json.loads((run / "model" / "config.json").read_text())["training"]["fitted_on"]
    ) == (fitted)
    assert metrics["meta"]["seen_in_fitting"] == fitted
    assert f"{fitted} of {GENRES * 12} tracks were used to fit" in " ".join(result.output.split())
    # the held-out test tracks alone, listed in a manifest: nothing seen, no warning
    rows = ["path,label"] + [f"{synthetic / t},{Path(t).parent.name}" for t in split["test"]]
    (tmp_path / "test.csv").write_text("\n".join(rows) + "\n")
    args = [
        "evaluate",
        str(tmp_path / "test.csv"),
        "--model",
        str(run),
        "--out",
        str(tmp_path / "t"),
    ]
    result = CliRunner().invoke(app, [*args, "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "were used to fit" not in result.output
    held_out = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert held_out["meta"]["seen_in_fitting"] == 0 and held_out["track"]["n"] == len(split["test"])
    # test tracks and three training tracks: warned of the three, figures on the others too
    extra = [f"{synthetic / t},{Path(t).parent.name}" for t in split["train"][:3]]
    (tmp_path / "mixed.csv").write_text("\n".join(rows + extra) + "\n")
    args = ["evaluate", str(tmp_path / "mixed.csv"), "--model", str(run), "--out"]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "m"), "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    n_test = len(split["test"])
    assert f"3 of {n_test + 3} tracks were used to fit" in said
    assert f"the {n_test} tracks it has not seen: accuracy" in said
    mixed = json.loads((tmp_path / "m" / "metrics.json").read_text())["meta"]
    assert mixed["seen_in_fitting"] == 3 and mixed["not_seen"]["n"] == n_test
    assert mixed["not_seen"]["accuracy"] == pytest.approx(held_out["track"]["accuracy"])


def test_train_cli_writes_run_and_resumes(synthetic, tmp_path) -> None:
    out = tmp_path / "run"
    common = [
        "train",
        str(synthetic),
        "--model",
        "lenet5",
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--crop-seconds",
        "1.0",
        "--batch-size",
        "8",
        "--split",
        "stratified",
        "--model-arg",
        "dropout_scale=0.5",
    ]
    first = CliRunner().invoke(app, [*common, "--epochs", "2"])
    assert first.exit_code == 0, first.output
    assert "held-out test tracks (stratified split)" in first.stdout
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["architecture"] == {"name": "lenet5", "kwargs": {"dropout_scale": 0.5}}
    assert config["training"]["epochs_run"] == 2
    resumed = CliRunner().invoke(app, [*common, "--epochs", "3", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["training"]["epochs_run"] == 3
    epochs = [row["epoch"] for row in json.loads(json.dumps(_history(out)))]
    assert epochs == [0.0, 1.0, 2.0]


def _history(run: Path) -> list[dict]:
    from genrenet.training.history import load_history, merge_history

    return merge_history(load_history(run / "logs" / "metrics.csv"))


def test_train_cli_rejects_bad_options(synthetic, tmp_path) -> None:
    bad_model = CliRunner().invoke(
        app, ["train", str(synthetic), "--model", "vgg99", "--out", str(tmp_path / "x")]
    )
    assert bad_model.exit_code == 2 and "unknown model" in bad_model.stderr
    bad_arg = CliRunner().invoke(
        app, ["train", str(synthetic), "--model-arg", "oops", "--out", str(tmp_path / "y")]
    )
    assert bad_arg.exit_code == 2 and "key=value" in bad_arg.stderr


def test_waveform_augmentation_touches_training_tracks_only(synthetic, tmp_path) -> None:
    from genrenet.augment import AugmentConfig
    from genrenet.data.store import FeatureStore

    clf = Classifier(
        model="lenet5",
        crop_seconds=1.0,
        max_epochs=1,
        batch_size=8,
        crops_per_track=1,
        augment="noise,specaugment,mixup",
    )
    clf.fit(synthetic, out_dir=tmp_path / "run", cache=tmp_path / "c", progress=False)
    outcome = clf.outcome_
    store = FeatureStore(clf.feature_config, tmp_path / "c")
    variant = AugmentConfig.parse("noise").variants()[0]
    tracks = sorted(p for p in synthetic.rglob("*.wav"))
    by_id = {p.relative_to(synthetic).as_posix(): p for p in tracks}
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    for track_id in split["train"]:
        assert store.entry_path(by_id[track_id], variant).exists()
    for track_id in split["valid"] + split["test"]:
        assert not store.entry_path(by_id[track_id], variant).exists()
    assert "noise" in outcome.classifier.metadata["augment"]
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["training"]["config"]["augment"]["methods"] == ["noise", "specaugment", "mixup"]


def test_batch_augmentation_only_in_training_steps() -> None:
    import torch

    from genrenet.augment import AugmentConfig
    from genrenet.training.loop import GenreModule, TrainConfig

    seen = []

    class Record(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x), 3, requires_grad=True)

    config = TrainConfig(augment=AugmentConfig.parse("specaugment,mixup").to_dict())
    module = GenreModule(Record(), config, n_classes=3)
    module.log = lambda *a, **k: None
    x = torch.randn(4, 1, 40, 50)
    y = torch.tensor([0, 1, 2, 0])
    module._step((x, y), "val")
    assert torch.equal(seen[-1], x)
    module._step((x, y), "train")
    assert not torch.equal(seen[-1], x)


def test_cv_cli_on_two_folds(synthetic, tmp_path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "cv",
            str(synthetic),
            "--folds",
            "2",
            "--model",
            "lenet5",
            "--epochs",
            "1",
            "--crop-seconds",
            "1.0",
            "--out",
            str(tmp_path / "cv"),
            "--cache",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 0, result.output
    cv = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert len(cv["folds"]) == 2
    assert "mean ± std" in result.stdout
