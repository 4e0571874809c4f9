"""Where networks run: "cpu", "cuda", "cuda:N" or "auto" for inference, and Lightning's
accelerator ("auto", "cpu", "gpu") for training, checked against what this process can see.

Features are always computed on the CPU; only the networks (and what sits on their outputs)
move. Asking for a GPU that is not there is a :class:`DeviceError` saying so, never a silent
fall back to the CPU.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from genrenet.errors import GenrenetError

if TYPE_CHECKING:
    import torch

DEVICES = ("cpu", "cuda", "auto")
"""What ``--device`` takes (``cuda:N`` too): the CPU, a CUDA GPU, or a GPU when one is visible."""
ACCELERATORS = ("auto", "cpu", "gpu")
"""What ``--accelerator`` takes: Lightning's choice, the CPU, or a GPU."""


class DeviceError(GenrenetError, ValueError):
    """A device that is not one genrenet knows, or that this process cannot see."""


def _no_cuda(asked: str, instead: str = "--device cpu") -> DeviceError:
    import torch

    if torch.version.cuda is None:
        why = f"this PyTorch ({torch.__version__}) is a CPU-only build"
    else:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        shown = "unset" if visible is None else repr(visible)
        why = (
            f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU "
            f"(CUDA_VISIBLE_DEVICES {shown})"
        )
    return DeviceError(f"{asked}: no CUDA device is visible: {why}; use {instead}")


def resolve_device(spec: str | torch.device | None = "cpu") -> torch.device:
    """The ``torch.device`` for ``spec`` ("cpu", "cuda", "cuda:N", "auto"; None is "cpu"),
    checked: a CUDA device that is not visible raises :class:`DeviceError`."""
    import torch

    name = "cpu" if spec is None else str(spec).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    kind, _, index = name.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"device must be cpu, cuda, cuda:N or auto, got {spec!r}")
    if not torch.cuda.is_available():
        raise _no_cuda(f"device {name!r}")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise DeviceError(
            f"device {name!r}: only {count} CUDA device(s) are visible (cuda:0 to cuda:{count - 1})"
        )
    return torch.device(name if index else f"cuda:{torch.cuda.current_device()}")


def describe_device(device: torch.device) -> str:
    """``"cuda:0 (NVIDIA H200)"`` or ``"cpu"``: what a log line says the model runs on."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def gpu_count() -> int:
    """CUDA devices visible, counted without initialising CUDA (PyTorch asks NVML first), so
    that Lightning can still fork its DDP workers afterwards."""
    import torch

    return torch.cuda.device_count()


def check_accelerator(accelerator: str) -> str:
    """``accelerator`` if it is one of :data:`ACCELERATORS` and, for "gpu", a GPU is visible;
    else :class:`DeviceError` (checked before any feature is extracted)."""
    if accelerator not in ACCELERATORS:
        raise DeviceError(f"accelerator must be one of {list(ACCELERATORS)}, got {accelerator!r}")
    if accelerator == "gpu" and gpu_count() == 0:
        raise _no_cuda("--accelerator gpu", "--accelerator cpu or auto")
    return accelerator


def training_device(accelerator: str, processes: int = 1) -> torch.device:
    """Where a run on ``accelerator`` computes outside Lightning's steps (embeddings of frozen
    backbones): a CUDA GPU for "gpu", and for "auto" when one is visible; the CPU for runs of
    several processes, whose parent must not start CUDA before Lightning forks the workers."""
    import torch

    check_accelerator(accelerator)
    if accelerator == "cpu" or processes > 1 or gpu_count() == 0:
        return torch.device("cpu")
    return torch.device("cuda")


_FP32_LOCK = threading.Lock()
_fp32_users = 0
_fp32_saved: list = []


def _tf32_places() -> list:
    """The objects holding PyTorch's TF32 settings: per backend where it has them (it refuses a
    mix of those and the legacy ``allow_tf32`` flags), else the legacy flags' modules."""
    import torch

    backends = torch.backends
    if hasattr(getattr(backends.cudnn, "conv", None), "fp32_precision"):
        return [backends.cudnn.conv, backends.cudnn.rnn, backends.cuda.matmul]
    return [backends.cudnn, backends.cuda.matmul]


def _swap_tf32(values: list | None) -> list:
    """Set full float32 (``values`` None) or put ``values`` back; returns what was there."""
    places = _tf32_places()
    name = "fp32_precision" if len(places) == 3 else "allow_tf32"
    before = [getattr(place, name) for place in places]
    new = (
        values
        if values is not None
        else ["ieee" if name == "fp32_precision" else False] * len(places)
    )
    for place, value in zip(places, new, strict=True):
        setattr(place, name, value)
    return before


@contextmanager
def exact_fp32(device: torch.device) -> Iterator[None]:
    """Inside, CUDA convolutions, RNNs and matrix products compute in full float32, not
    TF32 (PyTorch's default for cuDNN convolutions, 10-bit mantissas): predictions on a GPU
    then equal the CPU's within 1e-4 rather than 1e-3. The settings are process-wide: threads
    scoring at once share them, and the last one out puts back what was there before."""
    global _fp32_users, _fp32_saved
    if device.type != "cuda":
        yield
        return
    with _FP32_LOCK:
        if _fp32_users == 0:
            _fp32_saved = _swap_tf32(None)
        _fp32_users += 1
    try:
        yield
    finally:
        with _FP32_LOCK:
            _fp32_users -= 1
            if _fp32_users == 0:
                _swap_tf32(_fp32_saved)
