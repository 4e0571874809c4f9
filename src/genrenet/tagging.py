"""Music auto-tagging with the pretrained musicnn models: 50 MSD or MagnaTagATune tags per song.

As the original ``musicnn.extractor`` does, a song is cut into 3 s patches (187 frames),
non-overlapping by default and dropping the incomplete tail, each patch is tagged, and the
tag probabilities are averaged over the song.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from genrenet import audio
from genrenet.classifier import Prediction, features_or_error, summarize_windows
from genrenet.features import FeatureConfig, compute_stream, frontend
from genrenet.models.musicnn import PATCH_FRAMES, TAGGERS, Musicnn, MusicnnVGG
from genrenet.prefetch import map_ahead
from genrenet.pretrained.labels import TAGS

ARCHITECTURES = ("musicnn", "vgg")
#: Patches per forward pass on a CPU: one at a time measured fastest (23.9 ms per patch
#: against 28.8 ms in chunks of 8, 2 threads).
CPU_CHUNK = 1


def patch_starts(n_frames: int, patch: int, hop: int) -> np.ndarray:
    """Start frames as the original computes them: from 0 every ``hop`` while a whole patch fits
    (a song shorter than one patch gets one patch, tiled to length)."""
    if n_frames <= patch:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n_frames - patch + 1, hop, dtype=np.int64)


class Tagger:
    """A pretrained musicnn (or VGG) tagger; weights come from the installed ``musicnn`` wheel."""

    def __init__(self, tagger: str = "msd", architecture: str = "musicnn") -> None:
        if tagger not in TAGGERS:
            raise ValueError(f"tagger must be one of {list(TAGGERS)}, got {tagger!r}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}")
        from genrenet.pretrained.musicnn_weights import load_state_dict

        self.model_name = f"{tagger.upper()}_{architecture}"
        self.labels = list(TAGS[tagger])
        self.network = Musicnn() if architecture == "musicnn" else MusicnnVGG()
        self.network.load_state_dict(load_state_dict(self.model_name))
        self.network.eval()
        self.config = FeatureConfig.of_kind("musicnn")
        self._frontend = frontend(self.config)

    def features_of(self, path: str | Path) -> np.ndarray:
        """musicnn's input ``[96, frames]`` for a file of any length, streamed block by block."""
        blocks = audio.stream(path, sr=self.config.sample_rate, block_seconds=60.0)
        return compute_stream(blocks, self.config, self._frontend)

    def hop_frames(self, hop_seconds: float | None) -> int:
        """Frames between patches: one patch (no overlap) unless ``hop_seconds`` is given."""
        if hop_seconds is None:
            return PATCH_FRAMES
        if hop_seconds <= 0:
            raise ValueError(f"hop must be positive, got {hop_seconds}")
        return max(1, self.config.frames_for(hop_seconds) - 1)

    @torch.no_grad()
    def taggram(
        self, feats: np.ndarray, hop_seconds: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tag probabilities of each patch ``[n_patches, 50]`` and the patch start frames."""
        hop = self.hop_frames(hop_seconds)
        if feats.shape[-1] < PATCH_FRAMES:
            reps = -(-PATCH_FRAMES // feats.shape[-1])
            feats = np.tile(feats, (1, reps))[:, :PATCH_FRAMES]
        starts = patch_starts(feats.shape[-1], PATCH_FRAMES, hop)
        view = np.lib.stride_tricks.sliding_window_view(feats, PATCH_FRAMES, axis=-1)
        patches = torch.from_numpy(np.ascontiguousarray(view[:, starts].transpose(1, 2, 0)))
        out = [torch.sigmoid(self.network(part)) for part in patches.split(CPU_CHUNK)]
        return torch.cat(out).numpy(), starts

    def _features_or_error(self, path: Path) -> np.ndarray | str:
        return features_or_error(self.features_of, path)

    def tag_files(
        self,
        paths: Sequence[str | Path],
        top_k: int = 10,
        hop_seconds: float | None = None,
        timeline: bool = False,
        workers: int = 2,
    ) -> Iterator[Prediction]:
        """Whole-song tags of each file in input order (errors captured per file, not raised);
        files are decoded a few ahead on threads while the network runs."""
        paths = [Path(p) for p in paths]
        features = map_ahead(self._features_or_error, paths, workers)
        for path, feats in zip(paths, features, strict=True):
            yield self._tag_features(path, feats, top_k, hop_seconds, timeline)

    def tag_file(
        self,
        path: str | Path,
        top_k: int = 10,
        hop_seconds: float | None = None,
        timeline: bool = False,
    ) -> Prediction:
        """Whole-song tags of one file (the error in ``Prediction.error`` if it cannot be read)."""
        return next(self.tag_files([path], top_k, hop_seconds, timeline, workers=1))

    def _tag_features(
        self,
        path: Path,
        feats: np.ndarray | str,
        top_k: int,
        hop_seconds: float | None,
        timeline: bool,
    ) -> Prediction:
        if isinstance(feats, str):
            return Prediction(path, error=feats)
        probs, starts = self.taggram(feats, hop_seconds)
        frame_s = self.config.hop_length / self.config.sample_rate
        return summarize_windows(
            path,
            self.labels,
            probs,
            starts,
            top_k,
            frame_seconds=frame_s if timeline else None,
            window_seconds=PATCH_FRAMES * frame_s,
            total_frames=max(feats.shape[-1], PATCH_FRAMES),
        )
