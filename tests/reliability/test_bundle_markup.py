"""Items 8 and 10: names with brackets survive Rich output; a bundle with a NaN anywhere in its
config is refused at load, never predicting ``nan%``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from genrenet.bundle import BUNDLED_DIR
from genrenet.errors import BundleError
from tests.reliability.conftest import SR, noise, run_cli, write


def _bundle_with(tmp_path: Path, change) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_DIR / "gtzan-musicnn", folder)
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))  # json writes NaN as NaN
    return folder


@pytest.mark.parametrize(
    "where,change",
    [
        (
            "normalization.mean[0]",
            lambda c: c["normalization"]["mean"].__setitem__(0, float("nan")),
        ),
        ("patch_seconds", lambda c: c.__setitem__("patch_seconds", float("inf"))),
        ("features.fmin", lambda c: c["features"].__setitem__("fmin", float("-inf"))),
    ],
)
def test_non_finite_numbers_refused_at_load(tmp_path: Path, where: str, change) -> None:
    from genrenet.classifier import Classifier

    folder = _bundle_with(tmp_path, change)
    with pytest.raises(BundleError, match=f"NaN or infinite numbers at {re.escape(where)}"):
        Classifier.load(folder)


def test_cli_refuses_a_nan_bundle(tmp_path: Path, capsys) -> None:
    folder = _bundle_with(
        tmp_path, lambda c: c["normalization"]["std"].__setitem__(3, float("nan"))
    )
    song = write(tmp_path / "song.wav", 3.5)
    code, out, err = run_cli(["predict", str(song), "--model", str(folder)], capsys)
    assert code == 2
    assert "nan%" not in out + err and "normalization.std[3]" in err


def test_brackets_in_names_survive_tables_and_errors(tmp_path: Path, capsys) -> None:
    good = write(tmp_path / "song [live].wav", 3.5)
    bad = tmp_path / "demo [red]x.wav"
    import soundfile as sf

    sf.write(bad, noise(1.0)[:1], SR)
    code, out, err = run_cli(["predict", str(good), str(bad)], capsys)
    assert code == 1
    assert "song [live].wav" in out
    assert "demo [red]x.wav: too short" in err


def test_grid_help_keeps_its_brackets(capsys) -> None:
    code, out, _ = run_cli(["grid", "--help"], capsys)
    assert code == 0
    assert "[grid]" in out and "[fixed]" in out
