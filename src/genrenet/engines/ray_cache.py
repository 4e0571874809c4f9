"""Filling the feature and embedding caches on Ray: ``extract`` / ``embed`` ``--engine ray``.

The same Ray Data pattern as :func:`genrenet.engines.ray.predict_records`: the paths -> decode
and features in CPU tasks -> for embeddings, the pretrained backbone in a pool of actors, each
loading it once -> one small record per track streamed back to the driver, which writes the
index. Every entry is written by the worker that computed it, through the store's own
``extract`` (atomically: a killed worker leaves no half entry), into the cache folder, which
therefore must be one folder that every node reads and writes (a shared file system). The
stores' code runs unchanged in the workers, so the entries are the local engine's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genrenet.data.store import ExtractionReport, split_cached
from genrenet.engines.ray import DECODE_MEMORY, RaySettings, actor_pool, connect, path_datasets
from genrenet.errors import CacheError, DiskFullError

FATAL = "fatal"
"""Status of a track whose entry could not be written because of the cache, not the file."""


def cache_records(
    paths: Iterable[str],
    make_store: Callable[..., Any],
    *,
    embed: bool = False,
    settings: RaySettings | None = None,
) -> Iterator[dict[str, Any]]:
    """``{"path", "status", "error"}`` of each of ``paths`` as it finishes, in no fixed order:
    status ``computed`` or ``cached`` (error None) or ``failed`` (error: the reason).

    ``make_store()`` builds the store in each worker (a picklable ``functools.partial`` of
    :class:`~genrenet.data.store.FeatureStore` or, with ``embed``,
    :class:`~genrenet.pretrained.embeddings.EmbeddingStore`). A cache that cannot be written
    raises :class:`CacheError` (one message for the run, not one failure per file).
    """
    settings = settings or RaySettings()
    ray = connect(settings)
    for ds in path_datasets(ray, paths, settings):
        # the memory hint keeps Ray from fusing decoding into the few embedding actors
        ds = ds.map_batches(
            features_stage,
            fn_kwargs={"make_store": make_store, "embed": embed},
            batch_size=1,
            num_cpus=1,
            memory=DECODE_MEMORY,
        )
        if embed:
            ds = ds.map_batches(
                Embedder,
                fn_constructor_kwargs={"make_store": make_store, "gpu": bool(settings.num_gpus)},
                batch_size=1,
                **actor_pool(ray, settings),
            )  # a dead actor is restarted and its batch retried; entries are never half written
        for row in ds.iter_rows():
            if row["status"] == FATAL:
                raise CacheError(str(row["error"]))
            error = str(row["error"]) or None
            yield {"path": str(row["key"]), "status": str(row["status"]), "error": error}


def features_stage(batch: dict[str, np.ndarray], make_store: Callable[..., Any], embed: bool):
    """CPU stage: make sure each path's features are cached (``store.extract``). With
    ``embed``, a track whose embeddings are already cached is ``cached`` and one whose features
    are now ready is ``pending`` (for the :class:`Embedder`)."""
    store = make_store()
    out: dict[str, list] = {"path": [], "key": [], "status": [], "error": []}
    for path, key in zip(batch["path"], batch["key"], strict=True):
        path = Path(str(path))
        try:
            if not embed:
                status, error = outcome(store.extract([path]))
            else:
                done = ExtractionReport()
                if split_cached([path], store.entry_path, done, None):
                    status, error = outcome(store.features.extract([path]))
                    status = "pending" if status != "failed" else status
                else:
                    status, error = outcome(done)
        except (CacheError, DiskFullError) as err:
            status, error = FATAL, str(err)
        out["path"].append(str(path))
        out["key"].append(str(key))
        out["status"].append(status)
        out["error"].append(error)
    return out


class Embedder:
    """Embedding stage, one per actor: the store and its backbone, loaded once (on the GPU when
    the actor has one), turn each pending track's cached features into its cached embeddings."""

    def __init__(self, make_store: Callable[..., Any], gpu: bool = False) -> None:
        import torch

        device = "cuda" if gpu and torch.cuda.is_available() else "cpu"
        self.store = make_store(device=device)
        self.store.network()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        statuses, errors = [], []
        for path, status, error in zip(batch["path"], batch["status"], batch["error"], strict=True):
            if status == "pending":
                try:
                    status, error = outcome(self.store.extract([Path(str(path))]))
                except (CacheError, DiskFullError) as err:
                    status, error = FATAL, str(err)
            statuses.append(str(status))
            errors.append(str(error))
        return {"key": list(batch["key"]), "status": statuses, "error": errors}


def outcome(report: ExtractionReport) -> tuple[str, str]:
    """The status and error (empty when none) of a one-track extraction report."""
    if report.failed:
        return "failed", report.failed[0].reason
    return ("computed", "") if report.computed else ("cached", "")
