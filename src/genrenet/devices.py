"""Where networks run: "cpu", "cuda", "cuda:N" or "auto" for inference, and Lightning's
accelerator ("auto", "cpu", "gpu") for training, checked against what this process can see.

Features are always computed on the CPU; only the networks (and what sits on their outputs)
move. Asking for a GPU that is not there is a :class:`DeviceError` saying so, never a silent
fall back to the CPU.
"""

from __future__ import annotations

import os
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


@contextmanager
def exact_fp32(device: torch.device) -> Iterator[None]:
    """Inside, CUDA convolutions, RNNs and matrix products compute in full float32, not
    TF32 (PyTorch's default for cuDNN convolutions, 10-bit mantissas): predictions on a GPU
    then equal the CPU's within 1e-4 rather than 1e-3. The settings are put back after. Uses
    PyTorch's per-backend ``fp32_precision`` where it has it (it refuses a mix of that and the
    legacy ``allow_tf32`` flags)."""
    if device.type != "cuda":
        yield
        return
    import torch

    backends = torch.backends
    if hasattr(getattr(backends.cudnn, "conv", None), "fp32_precision"):
        places = [backends.cudnn.conv, backends.cudnn.rnn, backends.cuda.matmul]
        saved = [place.fp32_precision for place in places]
        try:
            for place in places:
                place.fp32_precision = "ieee"
            yield
        finally:
            for place, value in zip(places, saved, strict=True):
                place.fp32_precision = value
        return
    saved_flags = (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32)
    try:
        backends.cudnn.allow_tf32 = backends.cuda.matmul.allow_tf32 = False
        yield
    finally:
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = saved_flags
