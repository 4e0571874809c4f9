"""Training in two processes (Lightning DDP, gloo on CPU) reaches the held-out accuracy of one
process, and its bundle loads and predicts as the trained classifier does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrenet.classifier import Classifier
from genrenet.data.synth import generate_collection
from genrenet.training.config import TrainConfig
from genrenet.training.loop import lightning_strategy


def test_strategy_choice() -> None:
    assert lightning_strategy(TrainConfig()) == "auto"
    assert lightning_strategy(TrainConfig(strategy="ddp", devices=1)) == "auto"
    assert lightning_strategy(TrainConfig(strategy="ddp", devices=2)) == "ddp_fork"
    with pytest.raises(ValueError, match="torchrun"):
        lightning_strategy(TrainConfig(strategy="ddp", devices=2, num_nodes=2))
    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(strategy="fsdp")


def _fit(data: Path, out: Path, devices: int) -> Classifier:
    """Same effective batch (16) and so the same number of steps, in 1 or ``devices`` processes."""
    clf = Classifier(
        model="cnn64",
        crop_seconds=2.0,
        max_epochs=8,
        batch_size=16 // devices,
        crops_per_track=3,
        patience=10,
        lr=2e-3,
        seed=0,
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
    )
    return clf.fit(data, out_dir=out, cache=out.parent / "cache", progress=False)


@pytest.mark.slow
def test_two_processes_match_one(tmp_path) -> None:
    data = tmp_path / "synthetic"
    generate_collection(data, n_genres=3, clips_per_genre=12, seconds=4.0, seed=3)
    one = _fit(data, tmp_path / "one", devices=1)
    two = _fit(data, tmp_path / "two", devices=2)
    acc_one = one.outcome_.evaluation.track["accuracy"]
    acc_two = two.outcome_.evaluation.track["accuracy"]
    print(f"held-out track accuracy: 1 process {acc_one:.2f}, 2 processes {acc_two:.2f}")
    n_test = one.outcome_.evaluation.track["n"]
    assert acc_one >= 0.7 and acc_two >= 0.7  # chance is 0.33
    assert abs(acc_two - acc_one) <= 2 / n_test + 1e-9  # ~8 test tracks: within two tracks
    assert two.train_config.devices == 2
    files = sorted(data.rglob("*.wav"))[::5]
    loaded = Classifier.load(tmp_path / "two")
    np.testing.assert_allclose(loaded.predict_proba(files), two.predict_proba(files), atol=1e-6)
    assert loaded.predict(files) == two.predict(files)
