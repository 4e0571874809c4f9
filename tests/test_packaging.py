"""The package a person pip-installs: ``python -m build`` on a copy of this checkout makes an
sdist and a wheel (from the sdist) holding the bundled model and musicnn's weights and no tests
or caches; the wheel, installed into a fresh virtual environment that has only a CPU torch and
no musicnn, classifies and tags a synthetic clip exactly as the development install does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("src", "tests", "tools", "benchmarks", "examples", "docs")
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "Makefile")
WEIGHTS = [f"{m}.safetensors" for m in ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")]
#: PyTorch for the fresh environment: the Makefile's CPU build unless told otherwise.
TORCH_SPEC = os.environ.get("GENRENET_TEST_TORCH_SPEC", "torch==2.13.0")

pytestmark = pytest.mark.slow


def _run(args: list, timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done


def _copy_checkout(dest: Path) -> Path:
    """The tracked sources, without caches or build leftovers, so the build starts clean."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", ".*cache")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in SOURCE_FILES:
        shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel built by ``python -m build`` (the wheel built from the sdist)."""
    pytest.importorskip("build")
    base = tmp_path_factory.mktemp("packaging")
    source = _copy_checkout(base / "checkout")
    _run([sys.executable, "-m", "build", "--outdir", base / "dist", source], timeout=600)
    return base / "dist"


def test_wheel_holds_the_weights_and_models_and_no_tests_or_caches(dist: Path) -> None:
    (wheel,) = dist.glob("genrenet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    weights = "genrenet/pretrained/weights/"
    for name in [*WEIGHTS, "PROVENANCE.json", "LICENSE-musicnn.txt"]:
        assert weights + name in names, name
    assert "genrenet/pretrained/models/gtzan-musicnn/model.safetensors" in names
    assert "genrenet/pretrained/models/gtzan-musicnn/config.json" in names
    licences = [n for n in names if ".dist-info/licenses/" in n]
    assert any(n.endswith("/LICENSE") for n in licences), licences
    assert any(n.endswith("/LICENSE-musicnn.txt") for n in licences), licences
    assert not [n for n in names if n.startswith(("tests/", "tools/")) or "/tests/" in n]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".npy", ".part"))]
    assert not [n for n in names if not n.startswith(("genrenet/", "genrenet-", "beetsplug/"))]
    # the beets plugin, in beets' namespace package (no beetsplug/__init__.py to shadow beets')
    assert [n for n in names if n.startswith("beetsplug/")] == ["beetsplug/genrenet.py"]
    # every shipped file is byte-identical to the checkout's
    with zipfile.ZipFile(wheel) as zf:
        for name in WEIGHTS:
            assert zf.read(weights + name) == (ROOT / "src" / weights / name).read_bytes()
    assert wheel.stat().st_size < 15_000_000  # README: about 10.8 MB
    (sdist,) = dist.glob("genrenet-*.tar.gz")
    with tarfile.open(sdist) as tf:
        members = [m.split("/", 1)[1] for m in tf.getnames() if "/" in m]
    for needed in ("tools/convert_musicnn.py", "tests/conftest.py", "LICENSE", "Makefile"):
        assert needed in members, needed
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]


@pytest.fixture(scope="module")
def fresh_venv(dist: Path, tmp_path_factory) -> Path:
    """A new virtual environment: a CPU torch first, then the wheel (its other requirements
    from the package index or pip's cache); never the musicnn wheel."""
    venv = tmp_path_factory.mktemp("fresh") / "v"
    _run([sys.executable, "-m", "venv", venv], timeout=120)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile"]
    _run([*pip, TORCH_SPEC], timeout=900)
    (wheel,) = dist.glob("genrenet-*.whl")
    _run([*pip, wheel], timeout=900)
    return venv


def _env(tmp: Path) -> dict[str, str]:
    """The fresh environment's own: no PYTHONPATH into the checkout, a private cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GENRENET_CACHE"] = str(tmp / "cache")
    return env


def test_fresh_venv_predicts_and_tags_without_musicnn(fresh_venv: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genrenet.cli import app
    from genrenet.data.gtzan import GTZAN_GENRES
    from genrenet.data.synth import generate_clip

    python, genrenet = fresh_venv / "bin" / "python", fresh_venv / "bin" / "genrenet"
    env = _env(tmp_path)
    where = _run([python, "-c", "import genrenet; print(genrenet.__file__)"], 60, env=env)
    assert Path(where.stdout.strip()).is_relative_to(fresh_venv)  # not the checkout
    no_musicnn = subprocess.run([python, "-c", "import musicnn"], capture_output=True, env=env)
    assert no_musicnn.returncode != 0

    clip = tmp_path / "metal.wav"
    sf.write(clip, generate_clip("metal", 7.0, 16000, np.random.default_rng(3)), 16000)
    predicted = _run([genrenet, "predict", clip, "--json"], 300, env=env, cwd=tmp_path)
    (entry,) = json.loads(predicted.stdout)
    assert entry["error"] is None and entry["top"][0]["label"] in GTZAN_GENRES
    tagged = _run([genrenet, "tag", clip, "--json"], 300, env=env, cwd=tmp_path)
    (tags,) = json.loads(tagged.stdout)
    assert tags["error"] is None and len(tags["top"]) == 10

    # the installed wheel answers exactly what the development install answers
    here = CliRunner().invoke(app, ["predict", str(clip), "--json"])
    assert here.exit_code == 0, here.output
    ours = {t["label"]: t["score"] for t in json.loads(here.stdout)[0]["top"]}
    theirs = {t["label"]: t["score"] for t in entry["top"]}
    assert ours.keys() == theirs.keys()
    assert max(abs(ours[k] - theirs[k]) for k in ours) < 1e-5

    # a command that needs an extra that is not installed names the command that installs it
    for genre in ("metal", "classical"):
        (tmp_path / "songs" / genre).mkdir(parents=True)
        for j in range(2):
            y = generate_clip(genre, 4.0, 16000, np.random.default_rng(j))
            sf.write(tmp_path / "songs" / genre / f"{j}.wav", y, 16000)
    args = [genrenet, "train", tmp_path / "songs", "--model", "cnn64", "--out", tmp_path / "run"]
    train = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert train.returncode == 2, train.stderr
    assert "pip install 'genrenet[train]'" in " ".join(train.stderr.split())

    version = _run([genrenet, "--version", "--verbose"], 120, env=env)
    weights = next(ln for ln in version.stdout.splitlines() if ln.startswith("musicnn weights:"))
    assert str(fresh_venv) in weights and "converted from musicnn 0.1.0" in weights
    assert "onnxruntime not installed (pip install 'genrenet[onnx]')" in version.stdout
