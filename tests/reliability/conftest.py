"""Helpers of the reliability suite: the CLI run in-process as the console script runs it, and a
small untrained classifier (real network, real front end) for fast prediction tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 22050


def noise(seconds: float, sr: int = SR, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Quiet noise with a tone in it, float32 ``[n]`` (or ``[n, channels]``)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = (
        0.05 * rng.standard_normal((n, channels))
        + 0.2 * np.sin(2 * np.pi * 330 * np.arange(n) / sr)[:, None]
    )
    y = y.astype(np.float32)
    return y[:, 0] if channels == 1 else y


def write(path: Path, seconds: float, sr: int = SR, seed: int = 0, **kwargs) -> Path:
    """A short noisy tone at ``path`` (soundfile picks the format from the name)."""
    sf.write(path, noise(seconds, sr, seed), sr, **kwargs)
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``genrenet ARGS`` in this process through the console script's entry (the app object),
    returning the exit code, stdout and stderr."""
    from genrenet.cli import app
    from genrenet.cli.common import console, errors

    console.width = errors.width = 200
    try:
        app(args, prog_name="genrenet")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def tiny_classifier(kind: str = "logmel", crop_seconds: float = 1.0, seed: int = 0):
    """An untrained lenet5 on ``kind`` features with random weights: real windows, real scores."""
    import torch

    from genrenet.classifier import Classifier
    from genrenet.patches import Normalizer

    torch.manual_seed(seed)
    clf = Classifier(model="lenet5", features=kind, crop_seconds=crop_seconds)
    network = clf.build_network(3)
    n = clf.feature_config.n_features
    rng = np.random.default_rng(seed)
    normalizer = Normalizer(
        rng.normal(-30, 5, n).astype(np.float32), rng.uniform(5, 15, n).astype(np.float32)
    )
    return clf.adopt(["a", "b", "c"], network, normalizer)


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    """Every test gets its own cache folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENRENET_CACHE", str(cache))
    return cache
