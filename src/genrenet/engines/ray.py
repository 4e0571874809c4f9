"""Batch prediction on a Ray cluster (or a local Ray on this machine's cores), with Ray Data.

The pipeline follows Ray Data's batch-inference pattern: the paths -> decode and features in
CPU tasks -> the model in a pool of actors, each loading it once (``num_gpus`` each where GPUs
exist) -> records streamed back to the driver, which writes them with the same writers (and the
same resume) as the local engine. Ray retries a task whose worker died and restarts a killed
actor; the driver writes each path once, so a fault neither loses nor duplicates a file.
Results equal the local engine's: the same feature and scoring code runs in the workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from genrenet.errors import GenrenetError
from genrenet.features import FeatureConfig

INSTALL_HINT = "pip install 'genrenet[ray]'"
DECODE_MEMORY = 256 * 1024 * 1024
"""Memory reserved per decode task (a 10-minute song's features are about 30 MB)."""


class RayMissingError(GenrenetError, ImportError):
    """Ray (Ray Data) is not installed; the message says how to install it."""


def require_ray() -> Any:
    """The ``ray`` module, with Ray Data, or :class:`RayMissingError` naming the install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissingError(f"--engine ray needs Ray: {INSTALL_HINT}") from None
    return ray


@dataclass
class RaySettings:
    """Where and how to run: ``address`` None starts a local Ray (``num_cpus`` of it, default all
    cores); ``actors`` model replicas (default: one per 4 CPUs, at least 1), ``num_gpus`` each;
    ``chunk`` paths per Ray dataset (the input list is streamed chunk by chunk; each chunk
    starts its actors afresh, so chunks are large)."""

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: float = 0.0
    actors: int | None = None
    chunk: int = 20_000
    object_store_memory: int | None = None


def connect(settings: RaySettings) -> Any:
    """Join the cluster at ``settings.address`` (``auto``, ``ray://host:port``) or start a
    local Ray; quiet progress bars. Returns the ``ray`` module."""
    ray = require_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if settings.address is None:
            kwargs["num_cpus"] = settings.num_cpus
            kwargs["object_store_memory"] = settings.object_store_memory
        ray.init(address=settings.address, **kwargs)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray


def featurize(batch: dict[str, np.ndarray], config: FeatureConfig) -> dict[str, list]:
    """CPU stage: decode and compute the full-length features of each path (or the reason it
    failed), features as float32 bytes with their shape so that any length passes."""
    from genrenet import audio
    from genrenet.features import compute_stream, frontend

    module = frontend(config)
    out: dict[str, list] = {"path": [], "key": [], "feats": [], "shape": [], "error": []}
    for path, key in zip(batch["path"], batch["key"], strict=True):
        path = str(path)
        feats, error = b"", ""
        shape = [0, 0]
        try:
            blocks = audio.stream(path, sr=config.sample_rate, block_seconds=60.0)
            matrix = np.ascontiguousarray(compute_stream(blocks, config, module), np.float32)
            feats, shape = matrix.tobytes(), list(matrix.shape)
        except audio.AudioError as err:
            error = err.reason
        except ValueError as err:
            error = str(err)
        out["path"].append(path)
        out["key"].append(str(key))
        out["feats"].append(feats)
        out["shape"].append(shape)
        out["error"].append(error)
    return out


class Scorer:
    """GPU/CPU stage, one per actor: loads the model once, turns features into records."""

    def __init__(self, load: Callable[[], Any], options: dict[str, Any]) -> None:
        self.predictor = load()
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        from pathlib import Path

        records = []
        for path, key, raw, shape, error in zip(
            batch["path"], batch["key"], batch["feats"], batch["shape"], batch["error"], strict=True
        ):
            if error:
                feats: np.ndarray | str = str(error)
            else:
                feats = np.frombuffer(raw, np.float32).reshape([int(n) for n in shape])
            o = self.options
            pred = self.predictor._summarize(
                Path(str(path)), feats, o["top_k"], o["hop_seconds"], o["timeline"], o["windows"]
            )
            record = pred.to_dict()
            record["path"] = str(key)  # the path as the user gave it, not as the worker opened it
            records.append(json.dumps(record, allow_nan=False))
        return {"record": records}


def predict_records(
    paths: Iterable[str],
    load: Callable[[], Any],
    feature_config: FeatureConfig,
    *,
    top_k: int,
    hop_seconds: float | None = None,
    timeline: bool = False,
    windows: int | None = None,
    settings: RaySettings | None = None,
) -> Iterator[dict[str, Any]]:
    """Records (``Prediction.to_dict()``) of ``paths`` as they finish, in no fixed order.

    ``load()`` builds the predictor (a Classifier or a Tagger) inside each actor; it must be
    picklable (a module-level function or a ``functools.partial``). Paths are sent in chunks
    of ``settings.chunk``, so the input can be a stream of any length.
    """
    settings = settings or RaySettings()
    ray = connect(settings)
    options = {"top_k": top_k, "hop_seconds": hop_seconds, "timeline": timeline}
    options["windows"] = windows
    for ds in path_datasets(ray, paths, settings):
        # Decoding runs in its own CPU tasks: the memory hint keeps Ray from fusing it into the
        # model actors (fused, every file would be decoded by the few actors, one at a time).
        ds = ds.map_batches(
            featurize,
            fn_kwargs={"config": feature_config},
            batch_size=1,
            num_cpus=1,
            memory=DECODE_MEMORY,
        )
        ds = ds.map_batches(
            Scorer,
            fn_constructor_kwargs={"load": load, "options": options},
            batch_size=1,
            **actor_pool(ray, settings),
        )  # Ray Data restarts a dead actor and retries its batch (max_restarts=-1 by default)
        for row in ds.iter_rows():
            yield json.loads(row["record"])


def path_datasets(ray: Any, paths: Iterable[str], settings: RaySettings) -> Iterator[Any]:
    """Ray datasets of rows ``{"path": absolute path, "key": the path as given}``, one per chunk
    of ``settings.chunk`` paths, so that the input can be a stream of any length."""
    stream = iter(paths)
    while chunk := [str(p) for p in islice(stream, settings.chunk)]:
        items = [{"path": os.path.abspath(p), "key": p} for p in chunk]
        yield ray.data.from_items(items, override_num_blocks=min(len(items), 256))


def actor_pool(ray: Any, settings: RaySettings) -> dict[str, Any]:
    """``map_batches`` arguments of the model stage: ``settings.actors`` actors (default one
    per GPU with ``num_gpus``, else one per 4 CPUs), each with ``num_gpus`` or one CPU."""
    resources = ray.cluster_resources()
    actors = settings.actors or (
        max(1, int(resources.get("GPU", 0)))
        if settings.num_gpus
        else max(1, int(resources.get("CPU", 1)) // 4)
    )
    return {
        "concurrency": actors,
        "num_cpus": 1 if not settings.num_gpus else 0,
        "num_gpus": settings.num_gpus or None,
    }
