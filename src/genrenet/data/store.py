"""The feature store: full-length features of each track, computed once and cached on disk.

An entry's key combines the feature settings with the file's identity (resolved path, size and
modification time), so a changed file or setting is recomputed. Entries are ``.npy`` files
(``allow_pickle=False``) written to a temporary name and renamed, so a crash never leaves a
half-written entry.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genrenet import audio
from genrenet.data.tracks import Skipped
from genrenet.data.variants import WaveformVariant
from genrenet.errors import CacheError, DiskFullError
from genrenet.features.config import FeatureConfig
from genrenet.files import CONFIG_FILE, atomic_path, is_disk_full, write_json


def default_cache_dir() -> Path:
    """``$GENRENET_CACHE`` if set, else ``$XDG_CACHE_HOME/genrenet`` (``~/.cache/genrenet``)."""
    env = os.environ.get("GENRENET_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genrenet"


def cache_unwritable(folder: Path, err: OSError) -> str:
    """One line saying that the cache cannot be written, where, why, and how to move it."""
    reason = "no space left on the device" if is_disk_full(err) else (err.strerror or str(err))
    return (
        f"the cache {folder} cannot be written ({reason}); set GENRENET_CACHE to a writable "
        "folder (or pass --cache) to keep results between runs"
    )


def file_identity(path: Path) -> str:
    """Resolved path, size and mtime: what must stay the same for a cached entry to be valid."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


@dataclass
class ExtractionReport:
    """What :meth:`FeatureStore.extract` did: per path, computed, cached or failed."""

    computed: list[Path] = field(default_factory=list)
    cached: list[Path] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> list[Path]:
        """Paths whose features are now in the store."""
        return self.computed + self.cached


class FeatureStore:
    """Disk cache of full-length feature matrices ``[n_features, frames]`` for one config."""

    def __init__(self, config: FeatureConfig, root: Path | None = None) -> None:
        self.config = config
        self.root = Path(root) if root is not None else default_cache_dir()
        self.folder = self.root / "features" / f"{config.kind}-{config.digest()}"
        self._frontend = None  # built on first compute: a run served from the cache needs no torch

    def key(self, path: Path) -> str:
        """Cache key of ``path`` under this store's settings."""
        ident = f"{self.config.digest()}|{file_identity(Path(path))}"
        return hashlib.sha256(ident.encode()).hexdigest()[:32]

    def entry_path(self, path: Path, variant: WaveformVariant | None = None) -> Path:
        """Where the features of ``path`` (or of its ``variant``) live, whether or not they exist.

        A variant's entry is the plain key plus the variant id (``<key>@pitch+4.npy`` beside
        ``<key>.npy``), so a changed file or setting invalidates its variants with it.
        """
        key = self.key(path)
        suffix = f"@{variant.id}" if variant is not None else ""
        return self.folder / key[:2] / f"{key}{suffix}.npy"

    def get(
        self, path: Path, variant: WaveformVariant | None = None, mmap: bool = False
    ) -> np.ndarray | None:
        """Cached features of ``path`` (or of its ``variant``), or None when absent.

        A corrupt entry is removed and counted as missing, so it is recomputed. ``mmap`` maps
        the matrix from disk instead of reading it (training on a large collection).
        """
        return read_entry(self.entry_path(Path(path), variant), mmap)

    def load(self, path: Path, mmap: bool = False) -> np.ndarray:
        """Features of ``path``, computing and caching them if needed."""
        cached = self.get(path, mmap=mmap)
        if cached is not None:
            return cached
        entry = self.put(Path(path), self.compute(Path(path)))
        return read_entry(entry, mmap) if mmap else np.load(entry, allow_pickle=False)

    def compute(self, path: Path, variant: WaveformVariant | None = None) -> np.ndarray:
        """Decode ``path``, apply ``variant`` if given (seeded by path and variant id), and
        compute its full-length features ``[n_features, frames]`` (no caching)."""
        sr = self.config.sample_rate
        y = audio.load(path, sr=sr)  # audio.MIN_DURATION, as every command
        if variant is not None:
            y = np.ascontiguousarray(variant.apply(y, sr, seed=variant.seed_for(path)))
        import torch

        if self._frontend is None:
            from genrenet.features.frontends import frontend

            self._frontend = frontend(self.config)
        with torch.no_grad():
            return self._frontend(torch.from_numpy(y)).numpy()

    def put(self, path: Path, feats: np.ndarray, variant: WaveformVariant | None = None) -> Path:
        """Write ``feats`` for ``path`` (or its ``variant``) atomically; returns the entry."""
        entry = self.entry_path(Path(path), variant)
        self._write_manifest()
        return save_entry(entry, feats)

    def check_writable(self) -> None:
        """Raise CacheError (one message for the whole run, not one per file) when the store's
        folder cannot be written."""
        try:
            write_json(self.folder / CONFIG_FILE, self.config.to_dict())
        except OSError as err:
            raise CacheError(cache_unwritable(self.folder, err)) from None

    def _write_manifest(self) -> None:
        """Record the settings beside the entries so a person can tell the folders apart."""
        manifest = self.folder / CONFIG_FILE
        if not manifest.exists():
            write_json(manifest, self.config.to_dict())

    def extract(
        self,
        paths: Sequence[Path],
        workers: int = 1,
        on_done: Callable[[Path, str], None] | None = None,
    ) -> ExtractionReport:
        """Make sure every path's features are cached, in parallel; failures reported, not raised.

        ``on_done(path, status)`` is called once per path with ``"cached"``, ``"computed"`` or
        ``"failed"`` (for progress bars).
        """
        report = ExtractionReport()
        todo = split_cached(paths, self.entry_path, report, on_done)
        if todo:
            self.check_writable()
        if todo and self._frontend is None:
            from genrenet.features.frontends import frontend

            self._frontend = frontend(self.config)  # once, before the worker threads start
        for path, error in run_parallel(self._extract_one, todo, workers):
            if error is None:
                report.computed.append(path)
                notify(on_done, path, "computed")
            else:
                report.failed.append(Skipped(path, error))
                notify(on_done, path, "failed")
        return report

    def _extract_one(self, path: Path) -> str | None:
        """Compute and store one file's features; the reason in words on failure."""
        try:
            self.put(path, self.compute(path))
        except audio.AudioError as err:
            return err.reason
        except DiskFullError:
            raise  # the disk, not the file: one message for the whole run
        except OSError as err:
            return f"cannot be read or cached ({err.strerror or err})"
        return None

    # --- augmented variants (waveform augmentation of training tracks) ---------------------------

    def extract_variants(
        self,
        paths: Sequence[Path],
        variants: Sequence[WaveformVariant],
        workers: int = 2,
        on_done: Callable[[Path, str], None] | None = None,
    ) -> ExtractionReport:
        """Make sure every (path, variant) pair is cached; failures reported, not raised.

        Each pair is computed once (later calls are served from the cache). ``workers > 1``
        runs pairs on that many *processes* (when there are enough pairs to repay their start,
        :data:`_PROCESS_MIN_PAIRS`): librosa's phase vocoder loops over frames in Python holding
        the GIL, so threads do not speed it up. Scripts that call this with ``workers > 1``
        need the usual ``if __name__ == "__main__":`` guard (the workers are spawned).
        ``on_done(path, status)`` is called once per pair, so ``len(paths) * len(variants)``
        times; in the report a path appears once per variant, and a failure's reason starts
        with the variant id.
        """
        report = ExtractionReport()
        todo: list[tuple[Path, WaveformVariant]] = []
        for path in paths:
            path = Path(path)
            for variant in variants:
                try:
                    audio.check_file(path)
                    exists = self.entry_path(path, variant).exists()
                except audio.AudioError as err:
                    report.failed.append(Skipped(path, f"{variant.id}: {err.reason}"))
                    notify(on_done, path, "failed")
                    continue
                if exists:
                    report.cached.append(path)
                    notify(on_done, path, "cached")
                else:
                    todo.append((path, variant))
        for (path, variant), error in self._run_variants(todo, workers):
            if error is None:
                report.computed.append(path)
                notify(on_done, path, "computed")
            else:
                report.failed.append(Skipped(path, f"{variant.id}: {error}"))
                notify(on_done, path, "failed")
        return report

    def _extract_variant_one(self, path: Path, variant: WaveformVariant) -> str | None:
        """Compute and store one variant; the reason in words on failure."""
        try:
            self.put(path, self.compute(path, variant), variant)
        except audio.AudioError as err:
            return err.reason
        except DiskFullError:
            raise
        except OSError as err:
            return f"cannot be read or cached ({err.strerror or err})"
        except Exception as err:  # noqa: BLE001 - librosa raises its own types; we name them
            return f"augmentation failed ({type(err).__name__}: {err})"
        return None

    def _run_variants(
        self, todo: list[tuple[Path, WaveformVariant]], workers: int
    ) -> Iterable[tuple[tuple[Path, WaveformVariant], str | None]]:
        """Compute the pairs here (one worker) or on spawned processes, yielding as they finish."""
        if not todo:
            return
        if workers <= 1 or len(todo) < _PROCESS_MIN_PAIRS:
            for pair in todo:
                yield pair, self._extract_variant_one(*pair)
            return
        context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP is unsafe
        config = self.config.to_json()
        with ProcessPoolExecutor(
            max_workers=min(workers, len(todo)),
            mp_context=context,
            initializer=_variant_worker_init,
        ) as pool:
            futures = {
                pool.submit(
                    _variant_worker, config, str(self.root), str(path), variant.kind, variant.value
                ): (path, variant)
                for path, variant in todo
            }
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def read_entry(entry: Path, mmap: bool = False) -> np.ndarray | None:
    """A cached matrix, or None when absent; a corrupt entry is removed, with a warning, so it
    is recomputed."""
    if not entry.exists():
        return None
    try:
        matrix = np.load(entry, allow_pickle=False, mmap_mode="r" if mmap else None)
        problem = None if matrix.ndim == 2 and matrix.dtype == np.float32 else "wrong shape"
        if problem is None and not mmap and not np.isfinite(matrix).all():
            problem = "NaN or infinite values"
    except (OSError, ValueError, EOFError) as err:
        problem = str(err) or type(err).__name__
    if problem is not None:
        _discard(entry, problem)
        return None
    return matrix


def entry_valid(entry: Path, source: Path | None = None) -> bool:
    """Whether ``entry`` holds a well-formed float32 matrix of the right size (its header read,
    not its data); a damaged entry is removed, with a warning, and counts as absent."""
    if not entry.exists():
        return False
    try:
        with open(entry, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(fh)
            offset = fh.tell()
        size = entry.stat().st_size
        if len(shape) != 2 or dtype != np.float32:
            problem = "not a float32 feature matrix"
        elif size != offset + shape[0] * shape[1] * 4:
            problem = f"{size} bytes where the header promises {offset + shape[0] * shape[1] * 4}"
        else:
            return True
    except (OSError, ValueError, EOFError) as err:
        problem = str(err) or type(err).__name__
    _discard(entry, problem, source)
    return False


def _discard(entry: Path, problem: str, source: Path | None = None) -> None:
    """Remove a damaged cache entry and say so (it is then recomputed)."""
    import warnings

    from genrenet.errors import GenrenetWarning

    entry.unlink(missing_ok=True)
    of = f" (features of {source})" if source is not None else ""
    warnings.warn(
        f"damaged cache entry {entry}{of} removed and recomputed: {problem[:200]}",
        GenrenetWarning,
        stacklevel=3,
    )


def save_entry(entry: Path, matrix: np.ndarray) -> Path:
    """Write ``matrix`` as a float32 ``.npy`` entry atomically (no pickle); returns ``entry``."""
    with atomic_path(entry) as tmp:
        np.save(tmp, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
    return entry


_PROCESS_MIN_PAIRS = 32
"""Fewer (path, variant) pairs than this run in-process: a spawned worker must import torch and
librosa (seconds), which only a batch of 0.1-0.4 s pairs per worker repays."""

_WORKER_STORES: dict[tuple[str, str], FeatureStore] = {}
"""One store (and front end) per settings and root in each variant worker process."""


def _variant_worker_init() -> None:
    """Variant worker start-up: one torch thread, since the parallelism is across processes."""
    import torch

    torch.set_num_threads(1)


def _variant_worker(config_json: str, root: str, path: str, kind: str, value: float) -> str | None:
    """Compute and store one (path, variant) pair in a worker process; the error reason or None."""
    store = _WORKER_STORES.get((config_json, root))
    if store is None:
        store = FeatureStore(FeatureConfig.from_json(config_json), Path(root))
        _WORKER_STORES[(config_json, root)] = store
    return store._extract_variant_one(Path(path), WaveformVariant(kind, value))


def split_cached(
    paths: Sequence[Path],
    entry_path: Callable[[Path], Path],
    report: ExtractionReport,
    on_done: Callable[[Path, str], None] | None,
) -> list[Path]:
    """Check each file; record unreadable ones as failed and cached ones as cached in
    ``report``, and return the paths still to compute."""
    todo: list[Path] = []
    for path in map(Path, paths):
        try:
            audio.check_file(path)
            exists = entry_valid(entry_path(path), path)
        except audio.AudioError as err:
            report.failed.append(Skipped(path, err.reason))
            notify(on_done, path, "failed")
            continue
        if exists:
            report.cached.append(path)
            notify(on_done, path, "cached")
        else:
            todo.append(path)
    return todo


def notify(callback: Callable[[Path, str], None] | None, path: Path, status: str) -> None:
    """Call a progress callback with ``(path, status)`` when there is one."""
    if callback is not None:
        callback(path, status)


def run_parallel(
    func: Callable[[Path], str | None], paths: Iterable[Path], workers: int
) -> Iterable[tuple[Path, str | None]]:
    """Apply ``func`` to each path on ``workers`` threads, yielding results as they finish.

    Decoding (libsndfile, FFmpeg, soxr) and the torch front end release the GIL, so threads
    give real parallelism without paying a process start-up (torch import) per worker. Torch's
    own intra-op threads are set to one meanwhile: parallelism is across files, not inside one.
    """
    paths = list(paths)
    if not paths:
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers <= 1 or len(paths) == 1:
            for path in paths:
                yield path, func(path)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(func, p): p for p in paths}
            for future in as_completed(futures):
                yield futures[future], future.result()
    finally:
        torch.set_num_threads(previous)
