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


class OnnxScorer:
    """Probabilities of input batches from an ONNX graph, through one reused session, run in
    chunks of ``chunk`` inputs so that each chunk's feature maps stay small and in cache (as
    :attr:`genrenet.models.base.GenreModel.cpu_chunk` does for PyTorch: musicnn's front-end maps
    are 9 MB per patch)."""

    def __init__(self, path: str | Path, threads: int | None = None, chunk: int = 8) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        self.chunk = max(1, int(chunk))
        self.session = ort.InferenceSession(
            str(self.path), session_options(threads), providers=["CPUExecutionProvider"]
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
