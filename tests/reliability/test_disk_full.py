"""Item 9: a full disk gives one clear line naming what was being written, exit 1, and leaves
nothing half-written (a 2 MB tmpfs, mountable as root; skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from genrenet.errors import DiskFullError
from genrenet.files import atomic_write
from tests.reliability.conftest import run_cli, write


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB filesystem (tmpfs) at ``tmp_path / "disk"``."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if ".tmp" in p.name)


def test_a_write_too_big_for_the_disk_keeps_the_old_file(small_disk: Path) -> None:
    target = atomic_write(small_disk / "model.safetensors", b"old")
    with pytest.raises(DiskFullError, match=r"no space left on the device while writing .*model"):
        atomic_write(target, os.urandom(3 << 20))
    assert target.read_bytes() == b"old"
    assert _leftovers(small_disk) == []


def test_a_checkpoint_on_a_full_disk_keeps_the_previous_one(small_disk: Path) -> None:
    from genrenet.training.checkpoints import AtomicCheckpointIO

    path = small_disk / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(4)}, "epoch": 1}, path)
    with pytest.raises(DiskFullError, match="last.ckpt"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(1 << 20)}, "epoch": 2}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert _leftovers(small_disk) == []


def test_extract_on_a_full_disk_says_so_once(small_disk: Path, tmp_path: Path, capsys) -> None:
    for genre in ("a", "b"):
        (tmp_path / "music" / genre).mkdir(parents=True)
        for i in range(3):
            write(tmp_path / "music" / genre / f"{i}.wav", 30.0, seed=i)  # 0.66 MB of log-mel
    code, out, err = run_cli(
        ["extract", str(tmp_path / "music"), "--cache", str(small_disk), "--workers", "1"], capsys
    )
    assert code == 1
    assert "Traceback" not in err and "requested and" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no space left on the device while")
    assert _leftovers(small_disk) == []
    for entry in small_disk.rglob("*.npy"):  # what was written is whole
        import numpy as np

        assert np.load(entry).shape[0] == 128
