"""Training hyper-parameters, importable without Lightning so that loading a model to predict
stays fast (``genrenet.training.loop`` holds the Lightning code)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (recorded in the model bundle)."""

    model: str = "resnet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    crop_seconds: float = 3.0
    crops_per_track: int = 4
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 60
    patience: int = 10
    lr_patience: int = 4
    lr_factor: float = 0.5
    class_weights: bool = False
    label_smoothing: float = 0.0
    seed: int = 0
    max_minutes: float | None = None
    augment: dict[str, Any] = field(default_factory=dict)
    """``AugmentConfig.to_dict()``; empty means no augmentation."""
    devices: int = 1
    """Training processes (or GPUs) per machine; with ``strategy="ddp"`` each sees 1/N of the
    data, so the effective batch is ``batch_size * devices * num_nodes``."""
    num_nodes: int = 1
    """Machines (launched by torchrun or SLURM, one process per device on each)."""
    strategy: str = "auto"
    """``auto`` (one process) or ``ddp`` (Lightning's distributed data parallel; gloo on CPU)."""
    accelerator: str = "auto"
    """Lightning's accelerator: ``auto`` (a GPU when one is visible), ``cpu`` or ``gpu``."""

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        for name in ("crop_seconds", "lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.strategy not in ("auto", "ddp"):
            raise ValueError(f"strategy must be 'auto' or 'ddp', got {self.strategy!r}")
        if self.accelerator not in ("auto", "cpu", "gpu"):
            raise ValueError(
                f"accelerator must be 'auto', 'cpu' or 'gpu', got {self.accelerator!r}"
            )
        for name in ("crops_per_track", "batch_size", "max_epochs", "devices", "num_nodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)
