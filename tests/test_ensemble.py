"""Ensembles average their members' calibrated probabilities, save and load like any model,
and export to one module; short clips get a prediction; an empty file a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from genrenet.classifier import Classifier
from genrenet.cli import app
from genrenet.errors import BundleError
from genrenet.features import compute
from genrenet.inference.ensemble import Ensemble
from genrenet.patches import Normalizer, short_windows
from tests.conftest import SR, tone

LABELS = ["blues", "jazz", "rock"]


def tiny(seed: int, crop_seconds: float = 1.0, temperature: float = 1.0) -> Classifier:
    """An untrained lenet5 with random weights (its scores are what they are: enough to check
    that an ensemble combines them exactly)."""
    torch.manual_seed(seed)
    clf = Classifier(model="lenet5", crop_seconds=crop_seconds)
    n = clf.feature_config.n_features
    rng = np.random.default_rng(seed)
    norm = Normalizer(rng.normal(-30, 5, n).astype(np.float32), np.full(n, 20.0, np.float32))
    clf.adopt(LABELS, clf.build_network(len(LABELS)), norm)
    return clf.calibrate({"method": "temperature", "temperature": temperature})


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("songs")
    paths = []
    for i, (freq, seconds) in enumerate([(220, 3.5), (880, 2.2), (330, 4.0)]):
        path = folder / f"song{i}.wav"
        sf.write(path, tone(freq, seconds) + 0.2 * tone(freq * 3.1, seconds), SR)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("members")
    return tiny(1, temperature=2.0).save(folder / "a"), tiny(2).save(folder / "b")


def test_an_ensemble_of_two_bundles_is_the_mean_of_their_probabilities(saved, songs) -> None:
    a, b = Classifier.load(saved[0]), Classifier.load(saved[1])
    assert a.temperature == 2.0  # calibration survives save/load
    pa, pb = a.predict_proba(songs), b.predict_proba(songs)
    assert not np.allclose(pa, pb, atol=1e-3)
    equal = Ensemble([a, b])
    assert np.allclose(equal.predict_proba(songs), (pa + pb) / 2, atol=1e-6)
    weighted = Ensemble([a, b], weights=[3, 1])
    assert np.allclose(weighted.predict_proba(songs), 0.75 * pa + 0.25 * pb, atol=1e-6)


def test_members_with_other_windows_are_matched_by_time(songs) -> None:
    short, long = tiny(3, crop_seconds=1.0), tiny(4, crop_seconds=2.0)
    both = Ensemble([short, long])
    probs, starts = both.window_proba(short.features_of(songs[2]))
    assert len(probs) == len(short.window_proba(short.features_of(songs[2]))[0])
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5) and starts[0] == 0


def test_the_ensemble_round_trips_and_predicts_from_the_cli(saved, songs, tmp_path) -> None:
    out = tmp_path / "ens"
    result = CliRunner().invoke(app, ["ensemble", str(saved[0]), str(saved[1]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "ensemble" and [m["weight"] for m in config["members"]] == [0.5, 0.5]
    loaded = Classifier.load(out)
    assert isinstance(loaded, Ensemble) and loaded.labels == LABELS
    direct = Ensemble([Classifier.load(saved[0]), Classifier.load(saved[1])])
    assert np.allclose(loaded.predict_proba(songs), direct.predict_proba(songs), atol=1e-6)
    again = loaded.save(tmp_path / "again")
    assert np.allclose(Classifier.load(again).predict_proba(songs), direct.predict_proba(songs))
    result = CliRunner().invoke(app, ["predict", str(songs[0]), "--model", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["top"][0]["label"] in LABELS


def test_an_ensemble_missing_a_member_is_refused_clearly(saved, tmp_path) -> None:
    out = Ensemble([Classifier.load(saved[0]), Classifier.load(saved[1])]).save(tmp_path / "e")
    shutil.rmtree(out / "members" / "01")
    with pytest.raises(BundleError, match=r"member 2 of 2 is missing"):
        Classifier.load(out)
    result = CliRunner().invoke(app, ["predict", str(out), "--model", str(out)])
    assert result.exit_code == 2 and "member 2 of 2 is missing" in result.output


def test_members_must_share_their_genres(saved) -> None:
    other = tiny(5)
    other.labels = ["a", "b", "c"]
    with pytest.raises(ValueError, match="same genres"):
        Ensemble([Classifier.load(saved[0]), other])


def test_the_exported_module_matches_prediction_on_one_window(saved) -> None:
    a, b = Classifier.load(saved[0]), Classifier.load(saved[1])
    both = Ensemble([a, b], weights=[1, 3])
    wave = torch.from_numpy(tone(440, 1.0)[None])
    module = both.proba_module("waveform").eval()
    with torch.no_grad():
        exported = module(wave).numpy()
    feats = compute(wave[0].numpy(), a.feature_config)
    expected, _ = both.window_proba(feats[:, : a.patch_frames])
    assert exported.shape == (1, 3)
    assert np.allclose(exported, expected, atol=1e-5)


def test_short_windows_loop_pad_or_keep_a_sub_patch_clip() -> None:
    feats = np.arange(12, dtype=np.float32).reshape(2, 6) + 1
    looped, starts = short_windows(feats, 10, 10, "loop")
    assert looped.shape == (1, 2, 10) and np.array_equal(looped[0, :, 6:], feats[:, :4])
    padded, _ = short_windows(feats, 10, 10, "pad")
    assert np.array_equal(padded[0, :, :6], feats) and np.all(padded[0, :, 6:] == 1)
    kept, _ = short_windows(feats, 10, 10, "shorter")
    assert kept.shape == (1, 2, 6) and list(starts) == [0]
    with pytest.raises(ValueError, match="empty"):
        short_windows(feats[:, :0], 10, 10)


def test_a_sub_patch_clip_gets_a_prediction_and_an_empty_file_an_error(tmp_path) -> None:
    clf = tiny(6, crop_seconds=3.0)
    jingle = tmp_path / "jingle.wav"
    sf.write(jingle, tone(660, 1.0), SR)
    for mode in ("loop", "pad"):
        clf.short_input = mode
        pred = clf.predict_file(jingle)
        assert pred.error is None and abs(sum(pred.proba) - 1) < 1e-5
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)
    pred = clf.predict_file(empty)
    assert pred.error is not None and pred.proba is None


def test_weights_fitted_on_marked_valid_tracks_favour_the_better_member(tmp_path) -> None:
    """The clips' labels are member b's own answers (b is right by construction, a is not):
    weights fitted on the clips marked valid must give b most of the weight."""
    a, b = tiny(7), tiny(8)
    clips = tmp_path / "clips"
    clips.mkdir()
    rows = ["path,label,split"]
    for i in range(12):
        path = clips / f"c{i}.wav"
        sf.write(path, tone(150 + 90 * i, 1.5) + 0.3 * tone(1200 - 60 * i, 1.5), SR)
        rows.append(f"clips/{path.name},{b.predict([path])[0]},{'valid' if i < 9 else 'train'}")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "fitted"
    args = ["ensemble", str(a.save(tmp_path / "a")), str(b.save(tmp_path / "b")), "--out"]
    result = CliRunner().invoke(
        app, [*args, str(out), "--weights", "fit", "--data", str(tmp_path / "data.csv")]
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    weights = [m["weight"] for m in config["members"]]
    assert weights[1] > 0.8 and sum(weights) == pytest.approx(1.0)
    assert config["ensemble"]["weights_fit"]["fitted_on"].startswith("9 valid tracks")
    assert config["calibration"]["method"] == "temperature"
    result = CliRunner().invoke(app, [*args, str(out), "--weights", "fit"])
    assert result.exit_code == 2 and "--data" in result.output
    # evaluate scores the ensemble like any model: the valid tracks only, with intervals and ECE
    data = str(tmp_path / "data.csv")
    result = CliRunner().invoke(app, ["evaluate", data, "--model", str(out), "--part", "valid"])
    assert result.exit_code == 0, result.output
    assert "on 9 tracks (95% intervals)" in result.output and "ECE" in result.output
    # ... and says that its weights and temperature were fitted on those very tracks
    assert "9 of 9 tracks were used to fit" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["evaluate", data, "--model", str(out), "--part", "train"])
    assert result.exit_code == 0 and "were used to fit" not in result.output
    result = CliRunner().invoke(app, ["evaluate", data, "--model", str(out), "--part", "nope"])
    assert result.exit_code == 2
