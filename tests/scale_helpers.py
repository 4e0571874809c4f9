"""Helpers of the scale tests: short synthetic files and an untrained (random) model bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def write_clips(folder: Path, n: int, seconds: float = 3.0) -> list[Path]:
    """``n`` short noisy chords, each different, as WAV files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * SR)) / SR
    paths = []
    for i in range(n):
        freqs = rng.uniform(80, 2000, size=3)
        y = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 4 + 0.05 * rng.standard_normal(t.size)
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, y.astype(np.float32), SR)
        paths.append(path)
    return paths


def random_bundle(folder: Path, model: str = "lenet5", seed: int = 0) -> Path:
    """A saved classifier with random weights over 4 labels (fast; its answers differ by file)."""
    import torch

    from genrenet.classifier import Classifier
    from genrenet.patches import Normalizer

    torch.manual_seed(seed)
    clf = Classifier(model=model, crop_seconds=1.0)
    network = clf.build_network(4)
    mean, std = np.full(128, -30.0, np.float32), np.full(128, 15.0, np.float32)
    clf.adopt(["a", "b", "c", "d"], network, Normalizer(mean, std))
    return clf.save(folder)
