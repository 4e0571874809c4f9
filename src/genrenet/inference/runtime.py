"""Scoring windows with ONNX Runtime instead of PyTorch: the graph exported once, cached, reused.

A model's feature-in graph (:func:`genrenet.inference.export.export_model` with
``input="features"``) is written to the cache under a key made of the model's contents and
genrenet's version, so a changed model or a new genrenet never meets a stale graph; the int8 form
is made from it with onnxruntime's dynamic quantisation. :class:`OnnxScorer` holds one
``InferenceSession`` with as many intra-op threads as the process may use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genrenet.errors import GenrenetError
from genrenet.inference.export import INSTALL_HINT, export_model, quantize_int8

RUNTIMES = ("torch", "onnx", "onnx-int8")
"""How windows are scored: PyTorch, ONNX Runtime fp32, ONNX Runtime with int8 weights."""
SHIPPED_RUNTIMES = ("torch", "onnx")
"""The runtimes the command line offers. int8 (dynamic quantisation) is left out: on the bundled
model it named fp32's top genre on only 44 of 50 GTZAN tracks (88%, below the 99% required) and
ran slower than fp32 on AVX2 cores without VNNI (``benchmarks/int8_agreement.py``)."""


class RuntimeMissingError(GenrenetError):
    """onnxruntime (the ``genrenet[onnx]`` extra) is not installed."""


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or an error that says the one command installing it."""
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeMissingError(f"the ONNX runtime needs onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def session_options(threads: int | None = None) -> Any:
    """onnxruntime settings: intra-op threads = usable cores, every graph optimisation on, and
    no spinning between calls, so the decoding threads get the cores while the graph waits."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or usable_cores()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


CUDA_PROVIDER = "CUDAExecutionProvider"


def providers_for(device: Any = None) -> list[Any]:
    """onnxruntime's execution providers for a ``torch.device`` (None: the CPU). A CUDA device
    needs onnxruntime's CUDA provider (the ``onnxruntime-gpu`` build); without it this is a
    :class:`~genrenet.devices.DeviceError`, never a silent run on the CPU."""
    from genrenet.devices import DeviceError

    if device is None or device.type == "cpu":
        return ["CPUExecutionProvider"]
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    if device.type != "cuda" or CUDA_PROVIDER not in available:
        raise DeviceError(
            f"--runtime onnx cannot run on {device}: this onnxruntime ({ort.__version__}) "
            f"offers {available}, not {CUDA_PROVIDER} (install onnxruntime-gpu), or use "
            "--runtime torch on the GPU"
        )
    return [(CUDA_PROVIDER, {"device_id": device.index or 0}), "CPUExecutionProvider"]


class OnnxScorer:
    """Probabilities of input batches from an ONNX graph, through one reused session, run in
    chunks of ``chunk`` inputs so that each chunk's feature maps stay small and in cache (as
    :attr:`genrenet.models.base.GenreModel.cpu_chunk` does for PyTorch: musicnn's front-end maps
    are 9 MB per patch). ``device`` (a ``torch.device``) cuda runs the graph with onnxruntime's
    CUDA provider, on whole batches."""

    def __init__(
        self, path: str | Path, threads: int | None = None, chunk: int = 8, device: Any = None
    ) -> None:
        from genrenet.devices import DeviceError

        ort = import_onnxruntime()
        self.path = Path(path)
        on_gpu = device is not None and device.type != "cpu"
        self.cpu_chunk = max(1, int(chunk))
        self.chunk = 1 << 20 if on_gpu else self.cpu_chunk  # a GPU takes whole batches
        self.session = ort.InferenceSession(
            str(self.path), session_options(threads), providers=providers_for(device)
        )
        if on_gpu and self.session.get_providers()[0] != CUDA_PROVIDER:
            # onnxruntime falls back to the CPU when its CUDA libraries fail to load: say so
            raise DeviceError(
                f"onnxruntime could not start its CUDA provider on {device} (it would run on "
                f"{self.session.get_providers()}); check its CUDA and cuDNN libraries, or use "
                "--runtime torch on the GPU"
            )
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """``[batch, n_labels]`` probabilities of one input batch (float32)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        out = [
            self.session.run(None, {self.input_name: batch[i : i + self.chunk]})[0]
            for i in range(0, len(batch), self.chunk)
        ]
        return np.concatenate(out)


def graph_cache_dir(cache_dir: Path | None = None) -> Path:
    """Where exported graphs are kept: ``<cache>/onnx`` (:func:`default_cache_dir`)."""
    from genrenet.data.store import default_cache_dir

    return Path(cache_dir or default_cache_dir()) / "onnx"


def cached_graph(model: Any, key: str, runtime: str, cache_dir: Path | None = None) -> Path:
    """The feature-in graph of ``model`` for ``runtime`` ("onnx" or "onnx-int8"), exported (and
    quantised) on first use and kept under ``key`` (the model's contents + genrenet's version)."""
    if runtime not in RUNTIMES[1:]:
        raise ValueError(f"runtime must be one of {list(RUNTIMES[1:])}, got {runtime!r}")
    import_onnxruntime()
    folder = graph_cache_dir(cache_dir)
    fp32 = folder / f"{key}-features.onnx"
    if not fp32.exists():
        export_model(model, fp32, "features", sidecar=False)
    if runtime == "onnx":
        return fp32
    int8 = folder / f"{key}-features-int8.onnx"
    if not int8.exists():
        quantize_int8(fp32, int8)
    return int8
