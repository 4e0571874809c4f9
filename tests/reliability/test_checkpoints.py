"""Item 2: the last state is saved after every epoch, atomically, and ``--resume`` on a damaged
``last.ckpt`` says so and goes on from the previous good one."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genrenet.errors import GenrenetWarning


def _fit(out: Path, epochs: int, resume: bool = False, lr: float = 1e-3):
    from genrenet.models import build_model
    from genrenet.training.config import TrainConfig
    from genrenet.training.loop import fit_model

    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((16, 40)).astype(np.float32) for _ in range(12)]
    labels = np.arange(12) % 3
    config = TrainConfig(
        model="lenet5", max_epochs=epochs, batch_size=8, crops_per_track=2, lr=lr, patience=50
    )
    model = build_model("lenet5", 3, n_features=16)
    return fit_model(
        model,
        (mats[:9], labels[:9]),
        (mats[9:], labels[9:]),
        20,
        config,
        out,
        resume=resume,
        progress=False,
        n_classes=3,
    )


def _epoch(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


def test_last_checkpoint_every_epoch_and_resume_after_a_truncated_one(tmp_path: Path) -> None:
    """A learning rate so large that validation stops improving: the last checkpoint still
    follows every epoch, with the previous one beside it; truncated (as a kill during a
    non-atomic copy leaves it), ``resume`` says so and goes on from the previous one."""
    from genrenet.training.checkpoints import resume_from

    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    _fit(run, epochs=3, lr=50.0)
    assert _epoch(ckpts / "last.ckpt") == 2
    assert _epoch(ckpts / "last.prev.ckpt") == 1
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".")]  # no temporary left
    last = ckpts / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 3])
    with pytest.warns(GenrenetWarning, match=r"last\.ckpt is truncated or corrupt.*last\.prev"):
        assert resume_from(ckpts).name == "last.prev.ckpt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _fit(run, epochs=4, resume=True, lr=50.0)
    assert any("truncated or corrupt" in str(w.message) for w in caught)
    assert result.epochs_run == 4
    assert _epoch(last) == 3  # resumed after epoch 1 (the previous good one), ran 2 and 3


def test_a_failed_checkpoint_write_leaves_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    from genrenet.training.checkpoints import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)

    real_open = open

    class DiesHalfway:
        def __init__(self, *args):
            self.handle = real_open(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(bytes(data)[:100])
            raise KeyboardInterrupt  # as a kill would stop it

    from genrenet.training import checkpoints

    monkeypatch.setattr(checkpoints, "open", DiesHalfway, raising=False)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)
    assert _epoch(path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
