"""Music auto-tagging with the pretrained musicnn models: 50 MSD or MagnaTagATune tags per song.

As the original ``musicnn.extractor`` does, a song is cut into 3 s patches (187 frames),
non-overlapping by default and dropping the incomplete tail, each patch is tagged, and the
tag probabilities are averaged over the song.
"""

from __future__ import annotations

import numpy as np
import torch

from genrenet.features import FeatureConfig
from genrenet.inference.predictor import WindowedPredictor, WindowPlan
from genrenet.models.musicnn import CPU_PATCHES, PATCH_FRAMES, TAGGERS, Musicnn, MusicnnVGG
from genrenet.pretrained.labels import TAGS

ARCHITECTURES = ("musicnn", "vgg")
GPU_PATCHES = 64
"""Patches per forward pass on a GPU (on a CPU, :data:`CPU_PATCHES`: one at a time)."""


def patch_starts(n_frames: int, patch: int, hop: int) -> np.ndarray:
    """Start frames as the original computes them: from 0 every ``hop`` while a whole patch fits
    (a song shorter than one patch gets one patch, tiled to length)."""
    if n_frames <= patch:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n_frames - patch + 1, hop, dtype=np.int64)


class Tagger(WindowedPredictor):
    """A pretrained musicnn (or VGG) tagger; its weights ship inside genrenet.

    ``tag_files`` / ``tag_file`` are :class:`~genrenet.predictor.WindowedPredictor`'s
    ``predict_files`` / ``predict_file``: top 10 tags by default. ``device`` is where the
    network runs ("cpu", "cuda", "cuda:N", "auto"; see :func:`genrenet.devices.resolve_device`).
    """

    default_top_k = 10
    patch_frames = PATCH_FRAMES

    def __init__(
        self, tagger: str = "msd", architecture: str = "musicnn", device: str = "cpu"
    ) -> None:
        from genrenet.devices import resolve_device

        self.device = resolve_device(device)
        if tagger not in TAGGERS:
            raise ValueError(f"tagger must be one of {list(TAGGERS)}, got {tagger!r}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}")
        from genrenet.pretrained.musicnn_weights import load_state_dict

        self.model_name = f"{tagger.upper()}_{architecture}"
        self.labels = list(TAGS[tagger])
        self.network = Musicnn() if architecture == "musicnn" else MusicnnVGG()
        self.network.load_state_dict(load_state_dict(self.model_name))
        self.network.eval().to(self.device)
        self.feature_config = FeatureConfig.of_kind("musicnn")

    @property
    def window_seconds(self) -> float:
        """3 s: one 187-frame patch."""
        return PATCH_FRAMES * self.feature_config.hop_length / self.feature_config.sample_rate

    def window_plan(self, hop_seconds: float | None = None) -> WindowPlan:
        """3 s patches every ``hop_seconds`` (default: no overlap) while a whole patch fits,
        as the original: the incomplete tail is dropped."""
        hop = self.hop_frames(hop_seconds, PATCH_FRAMES)
        batch = CPU_PATCHES if self.device.type == "cpu" else GPU_PATCHES
        return WindowPlan(PATCH_FRAMES, hop, end_aligned=False, batch=batch)

    @torch.no_grad()
    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """Tag probabilities ``[n, 50]`` of patches ``[n, 96 bands, 187 frames]``."""
        from genrenet.devices import exact_fp32

        patches = torch.from_numpy(windows).transpose(1, 2).to(self.device)
        with exact_fp32(self.device):
            return torch.sigmoid(self.network(patches)).float().cpu().numpy()

    def taggram(
        self, feats: np.ndarray, hop_seconds: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tag probabilities of each patch ``[n_patches, 50]`` and the patch start frames."""
        return self.score_matrix(feats, self.window_plan(hop_seconds))

    window_scores = taggram
    tag_files = WindowedPredictor.predict_files
    tag_file = WindowedPredictor.predict_file
