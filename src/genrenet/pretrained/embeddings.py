"""musicnn embeddings of whole tracks, per window and per track, kept in the feature store.

Each track's entry is a ``[n_windows, 1706]`` float32 matrix: per 3 s window, musicnn's
mean-pool (753), max-pool (753) and penultimate (200) layers side by side. Windows follow
genrenet's rule (non-overlapping from the start, the last one ending at the track's end, or one
every ``hop_seconds`` as ``predict --hop`` lays them), so a head fitted on them sees what
:class:`genrenet.classifier.Classifier` feeds it when predicting. Per-track embeddings are the
mean over windows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from genrenet import audio
from genrenet.data.store import (
    ExtractionReport,
    FeatureStore,
    file_identity,
    notify,
    read_entry,
    run_parallel,
    save_entry,
    split_cached,
)
from genrenet.data.tracks import Skipped
from genrenet.errors import DiskFullError
from genrenet.features import FeatureConfig
from genrenet.files import atomic_path

#: Column ranges of each embedding in an entry, in order.
LAYOUT: dict[str, tuple[int, int]] = {
    "mean_pool": (0, 753),
    "max_pool": (753, 1506),
    "penultimate": (1506, 1706),
}
WIDTH = 1706


def select(windows: np.ndarray, kind: str) -> np.ndarray:
    """The columns of one embedding kind (``"pools"`` = mean-pool then max-pool)."""
    if kind == "pools":
        return windows[:, : LAYOUT["max_pool"][1]]
    if kind not in LAYOUT:
        raise ValueError(f"unknown embedding {kind!r}; choose one of {[*LAYOUT, 'pools']}")
    start, end = LAYOUT[kind]
    return windows[:, start:end]


def track_embedding(windows: np.ndarray, kind: str = "penultimate") -> np.ndarray:
    """Mean over a track's windows of one embedding kind."""
    return select(windows, kind).mean(axis=0)


class EmbeddingStore:
    """Cached musicnn window embeddings (MSD or MTT weights) of audio files; the backbone runs
    on ``device`` (``"cpu"``, or ``"cuda"`` where a Ray actor has a GPU)."""

    def __init__(
        self,
        tagger: str = "msd",
        root: Path | None = None,
        device: str = "cpu",
        hop_seconds: float | None = None,
    ) -> None:
        from genrenet.devices import resolve_device
        from genrenet.models.musicnn import PATCH_FRAMES

        self.device = resolve_device(device)
        """Where the backbone runs; entries computed on a GPU equal the CPU's within float32
        rounding (about 1e-5), so both share one cache."""
        self.tagger = tagger
        self.features = FeatureStore(FeatureConfig.of_kind("musicnn"), root)
        settings = {"model": f"{tagger.upper()}_musicnn", "window": "genrenet", "layout": LAYOUT}
        self.hop_frames = PATCH_FRAMES
        if hop_seconds is not None:  # the frames between windows of `predict --hop` (same rule)
            if hop_seconds <= 0:
                raise ValueError(f"hop must be positive, got {hop_seconds}")
            self.hop_frames = max(1, self.features.config.frames_for(hop_seconds) - 1)
            settings["hop_frames"] = self.hop_frames
        self.digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        self.folder = self.features.root / "embeddings" / f"musicnn-{tagger}-{self.digest[:12]}"
        self._network = None

    def entry_path(self, path: Path) -> Path:
        """Where the embeddings of ``path`` live (whether or not they exist yet)."""
        ident = f"{self.digest}|{file_identity(Path(path))}"
        key = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return self.folder / key[:2] / f"{key}.npy"

    def network(self):
        """The pretrained backbone (built on first use)."""
        if self._network is None:
            from genrenet.models.musicnn import Musicnn
            from genrenet.pretrained.musicnn_weights import load_state_dict

            net = Musicnn()
            net.load_state_dict(load_state_dict(f"{self.tagger.upper()}_musicnn"))
            self._network = net.eval().to(self.device)
        return self._network

    def embed_features(self, feats: np.ndarray) -> np.ndarray:
        """Window embeddings ``[n_windows, 1706]`` of a ``[96, frames]`` musicnn input."""
        import torch

        from genrenet.models.musicnn import CPU_PATCHES, PATCH_FRAMES
        from genrenet.patches import sliding_windows

        windows = sliding_windows(feats, PATCH_FRAMES, self.hop_frames)
        net = self.network()
        from genrenet.devices import exact_fp32

        chunk = CPU_PATCHES if self.device.type == "cpu" else 64
        rows = []
        with torch.no_grad(), exact_fp32(self.device):
            for window in torch.from_numpy(windows).transpose(1, 2).split(chunk):
                out = net.features(window.to(self.device))
                rows.append(torch.cat([out.mean_pool, out.max_pool, out.penultimate], dim=1))
        return torch.cat(rows).float().cpu().numpy()

    def load(self, path: Path) -> np.ndarray:
        """Window embeddings of ``path``, computed (from cached features) and stored if needed."""
        entry = self.entry_path(path)
        cached = read_entry(entry)
        if cached is not None and cached.ndim == 2 and cached.shape[1] == WIDTH:
            return cached
        windows = self.embed_features(np.asarray(self.features.load(Path(path))))
        save_entry(entry, windows)
        return windows

    def extract(
        self,
        paths: Sequence[Path],
        workers: int = 1,
        on_done: Callable[[Path, str], None] | None = None,
    ) -> ExtractionReport:
        """Make sure every path's embeddings are stored; failures are reported, not raised."""
        report = ExtractionReport()
        todo = split_cached(paths, self.entry_path, report, on_done)
        if todo:
            self.features.check_writable()  # one CacheError, not one failure per file
            self.network()  # once, before worker threads start
        for path, error in run_parallel(self._extract_one, todo, workers):
            if error is None:
                report.computed.append(path)
            else:
                report.failed.append(Skipped(path, error))
            notify(on_done, path, "computed" if error is None else "failed")
        return report

    def _extract_one(self, path: Path) -> str | None:
        try:
            self.load(path)
        except audio.AudioError as err:
            return err.reason
        except DiskFullError:
            raise  # the disk, not the file: one message for the whole run
        except (OSError, ValueError) as err:
            return f"cannot be embedded or cached ({err})"
        return None


def write_npz(out: Path, store: EmbeddingStore, tracks: Sequence) -> Path:
    """Write per-track and per-window embeddings of ``tracks`` (with ``.path`` and ``.label``)
    to an .npz atomically; strings are fixed-width Unicode arrays, so no pickle is needed."""

    windows = [store.load(t.path) for t in tracks]
    arrays: dict[str, np.ndarray] = {
        "paths": np.array([str(t.path) for t in tracks]),
        "labels": np.array([t.label or "" for t in tracks]),
        "window_track": np.concatenate([np.full(len(w), i) for i, w in enumerate(windows)]),
    }
    for kind in LAYOUT:
        arrays[kind] = np.stack([track_embedding(w, kind) for w in windows]).astype(np.float32)
        arrays[f"{kind}_windows"] = np.concatenate([select(w, kind) for w in windows])
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "xb") as handle:
        np.savez(handle, **arrays)
    return out
