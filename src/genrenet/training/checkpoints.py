"""Checkpoints a kill cannot spoil: written atomically, the last state saved every epoch, and a
resume that falls back to the previous good checkpoint when the last one is damaged.

Lightning's own ``save_last`` copies a checkpoint only when the monitored loss improves, and its
file writer is not atomic across filesystems; these replace both.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO

from genrenet.errors import GenrenetWarning
from genrenet.files import atomic_path

LAST = "last.ckpt"
"""The state after the latest finished epoch (what ``--resume`` continues from)."""
PREVIOUS = "last.prev.ckpt"
"""The state one epoch before :data:`LAST`, kept in case :data:`LAST` is damaged."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing to a temporary name beside the target and
    renaming: a kill or a full disk leaves the previous checkpoint, never half of one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        buffer = io.BytesIO()  # serialised first: torch.save hides a full disk's OSError
        torch.save(checkpoint, buffer)
        with atomic_path(path) as tmp, open(tmp, "xb") as handle:
            handle.write(buffer.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())


class LastEveryEpoch(L.pytorch.callbacks.Checkpoint):
    """Save :data:`LAST` at the end of every epoch (after validation, early stopping and the
    best checkpoint, as Lightning orders checkpoint callbacks last), moving the one before to
    :data:`PREVIOUS`, whether or not the validation loss improved."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = self.folder / LAST
        if trainer.is_global_zero and last.exists():  # under DDP only rank 0 owns the files
            os.replace(last, self.folder / PREVIOUS)
        # every rank calls it; rank 0 writes. The whole state (optimiser, loops): it resumes a
        # run. Said explicitly, or Lightning logs "`weights_only` was not set" every epoch.
        trainer.save_checkpoint(last, weights_only=False)


def readable(path: Path) -> str | None:
    """None when ``path`` loads as a checkpoint, else why not (truncated, corrupt)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        return f"{type(err).__name__}: {err}".strip()
    if not isinstance(state, dict) or "state_dict" not in state:
        return "not a Lightning checkpoint"
    return None


def resume_from(folder: Path) -> Path | None:
    """The checkpoint to resume from: :data:`LAST`, or :data:`PREVIOUS` when the last one is
    damaged (with a warning naming it), or None when there is no usable checkpoint."""
    candidates = [p for p in (folder / LAST, folder / PREVIOUS) if p.exists()]
    for i, path in enumerate(candidates):
        problem = readable(path)
        if problem is None:
            return path
        later = candidates[i + 1] if i + 1 < len(candidates) else None
        fallback = f"resuming from {later.name}" if later else "starting from scratch"
        warnings.warn(
            f"{path} is truncated or corrupt ({problem[:200]}); {fallback}",
            GenrenetWarning,
            stacklevel=2,
        )
    return None
