"""What ``genrenet --version`` prints: genrenet's version and, verbose, what it runs on."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

from genrenet import __version__


def _installed(distribution: str) -> str | None:
    """The installed version of ``distribution``, without importing it; None when absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch_line() -> str:
    import torch

    if torch.cuda.is_available():
        device = f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s)"
    else:
        device = "CPU only"
    return f"torch {torch.__version__} ({device})"


def version_lines(verbose: bool = False) -> list[str]:
    """``genrenet X``; verbose adds Python, torch, onnxruntime (if present), where the musicnn
    weights and the bundled models come from."""
    import genrenet

    lines = [f"genrenet {__version__}"]
    if not verbose:
        return lines
    from genrenet.bundle import BUNDLED_DIR
    from genrenet.pretrained.musicnn_weights import describe_source

    lines[0] += f" ({Path(genrenet.__file__).parent})"
    lines.append(f"python {platform.python_version()} ({platform.python_implementation()})")
    lines.append(_torch_line())
    ort = _installed("onnxruntime")
    lines.append(
        f"onnxruntime {ort}" if ort else "onnxruntime not installed (pip install 'genrenet[onnx]')"
    )
    lines.append(f"musicnn weights: {describe_source()}")
    bundled = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())
    lines.append(f"bundled models: {BUNDLED_DIR} ({', '.join(bundled) or 'none'})")
    return lines
