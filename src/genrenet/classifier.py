"""The facade: ``Classifier.fit / predict / predict_proba / evaluate / save / load``.

A saved classifier is a folder holding ``config.json`` (labels, feature settings, normalisation,
architecture and arguments, patch length, training metadata, genrenet version) and
``model.safetensors``: no pickle, safe to receive from someone else.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genrenet import __version__, audio
from genrenet.features import FeatureConfig
from genrenet.patches import Normalizer, sliding_windows, window_starts
from genrenet.predictor import Prediction, WindowedPredictor

__all__ = ["BundleError", "Classifier", "Prediction"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
BUNDLE_FORMAT = 1
#: Models shipped inside the package, loadable by name.
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained" / "models"
BUNDLED_MODELS = ("gtzan-musicnn",)


class BundleError(Exception):
    """A model folder that cannot be loaded; the message says what is wrong."""


class Classifier(WindowedPredictor):
    """A genre classifier: feature front end + normaliser + network + labels."""

    def __init__(
        self,
        model: str = "resnet",
        features: FeatureConfig | str | None = None,
        crop_seconds: float = 3.0,
        model_kwargs: dict[str, Any] | None = None,
        **train_options: Any,
    ) -> None:
        from genrenet.augment import AugmentConfig
        from genrenet.train_config import TrainConfig

        augment = train_options.get("augment")
        if isinstance(augment, str):
            train_options["augment"] = AugmentConfig.from_option(augment).to_dict()
        elif isinstance(augment, AugmentConfig):
            train_options["augment"] = augment.to_dict()
        from genrenet.models.registry import default_lr, required_features

        needed = required_features(model)
        if features is None:
            features = needed or "logmel"
        self.feature_config = (
            features if isinstance(features, FeatureConfig) else FeatureConfig.of_kind(features)
        )
        if needed and self.feature_config.kind != needed:
            raise ValueError(
                f"model {model!r} takes its own {needed!r} features, not "
                f"{self.feature_config.kind!r} (leave the features option out)"
            )
        if train_options.get("lr") is None:
            train_options["lr"] = default_lr(model, dict(model_kwargs or {}))
        self.train_config = TrainConfig(
            model=model,
            model_kwargs=dict(model_kwargs or {}),
            crop_seconds=crop_seconds,
            **train_options,
        )
        self.labels: list[str] = []
        self.network: nn.Module | None = None
        self.normalizer: Normalizer | None = None
        self.metadata: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []

    # -- construction -----------------------------------------------------------------------
    def clone(self, **changes: Any) -> Classifier:
        """A fresh, untrained classifier with the same settings (``changes`` override them)."""
        settings = self.train_config.to_dict()
        settings.update(changes)
        model = settings.pop("model")
        model_kwargs = settings.pop("model_kwargs")
        crop_seconds = settings.pop("crop_seconds")
        features = settings.pop("features", self.feature_config)
        return type(self)(
            model=model,
            features=features,
            crop_seconds=crop_seconds,
            model_kwargs=model_kwargs,
            **settings,
        )

    @property
    def patch_frames(self) -> int:
        """Frames per model input patch."""
        return self.feature_config.frames_for(self.train_config.crop_seconds)

    def _build_network(self, loading: bool = False) -> nn.Module:
        """A fresh network for the labels; ``loading`` lets it skip what saved weights replace."""
        from genrenet.models import build_model
        from genrenet.models.registry import architecture_class

        kwargs = dict(self.train_config.model_kwargs)
        if loading:
            kwargs |= architecture_class(self.train_config.model).loading_kwargs(kwargs)
        return build_model(
            self.train_config.model,
            n_classes=len(self.labels),
            n_features=self.feature_config.n_features,
            **kwargs,
        )

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        data: str | Path,
        out_dir: str | Path | None = None,
        split: str | Path = "auto",
        cache: Path | None = None,
        workers: int = 2,
        resume: bool = False,
        progress: bool = True,
        on_extract: Callable[[Path, str], None] | None = None,
    ):
        """Train on a collection (folder, GTZAN, FMA or CSV) and evaluate on its held-out tracks.

        Returns a :class:`genrenet.experiment.TrainOutcome` with the split, the history and the
        evaluation; the run folder (``out_dir``) gets checkpoints and logs.
        """
        from genrenet.experiment import train_on_collection

        return train_on_collection(
            self,
            data,
            out_dir=out_dir,
            split=split,
            cache=cache,
            workers=workers,
            resume=resume,
            progress=progress,
            on_extract=on_extract,
        )

    # -- prediction -------------------------------------------------------------------------
    def _require_trained(self) -> nn.Module:
        if self.network is None or self.normalizer is None or not self.labels:
            raise RuntimeError("this Classifier is not trained: call fit() or Classifier.load()")
        return self.network

    @torch.no_grad()
    def window_proba(
        self, feats: np.ndarray, hop_seconds: float | None = None, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of each sliding window of a feature matrix, and the window start frames."""
        network = self._require_trained()
        patch = self.patch_frames
        hop = self.hop_frames(hop_seconds, patch)
        windows = self.normalizer(sliding_windows(feats, patch, hop))
        starts = window_starts(max(feats.shape[-1], patch), patch, hop)
        out = []
        for i in range(0, len(windows), batch_size):
            batch = torch.from_numpy(windows[i : i + batch_size]).unsqueeze(1)
            out.append(torch.softmax(network(batch), dim=1).numpy())
        return np.concatenate(out), starts

    window_scores = window_proba

    @property
    def window_seconds(self) -> float:
        """Length of one model input patch."""
        return self.train_config.crop_seconds

    def predict_proba(
        self, paths: Sequence[str | Path], hop_seconds: float | None = None
    ) -> np.ndarray:
        """``[n_files, n_genres]`` probabilities; a file that cannot be read raises AudioError."""
        rows = []
        for pred in self.predict_files(paths, top_k=1, hop_seconds=hop_seconds):
            if pred.error is not None:
                raise audio.AudioError(pred.path, pred.error)
            rows.append(pred.proba)
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)), np.float32)

    def predict(
        self, paths: Sequence[str | Path] | str | Path, hop_seconds: float | None = None
    ) -> list[str]:
        """The most likely genre of each file."""
        if isinstance(paths, str | Path):
            paths = [paths]
        proba = self.predict_proba(list(paths), hop_seconds)
        return [self.labels[i] for i in proba.argmax(axis=1)]

    def evaluate(
        self, data: str | Path, cache: Path | None = None, workers: int = 2, progress: bool = False
    ):
        """Per-segment and per-track figures of this model on a labelled collection."""
        from genrenet.experiment import evaluate_on_collection

        return evaluate_on_collection(self, data, cache=cache, workers=workers, progress=progress)

    # -- persistence ------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the classifier, as written to ``config.json``."""
        self._require_trained()
        return {
            "format": BUNDLE_FORMAT,
            "genrenet_version": __version__,
            "labels": self.labels,
            "features": self.feature_config.to_dict(),
            "normalization": self.normalizer.to_dict(),
            "architecture": {
                "name": self.train_config.model,
                "kwargs": self.train_config.model_kwargs,
            },
            "patch_seconds": self.train_config.crop_seconds,
            "patch_frames": self.patch_frames,
            "training": {"config": self.train_config.to_dict(), **self.metadata},
        }

    def save(self, directory: str | Path) -> Path:
        """Write the bundle atomically: a crash never leaves a half-written model folder."""
        from safetensors.torch import save_file

        directory = Path(directory)
        network = self._require_trained()
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
        try:
            state = {k: v.detach().cpu().contiguous() for k, v in network.saved_state().items()}
            save_file(state, tmp / WEIGHTS_FILE, metadata={"genrenet_version": __version__})
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config_dict(), indent=2))
            if directory.exists():
                backup = directory.with_name(f".{directory.name}.old-{os.getpid()}")
                os.replace(directory, backup)
                os.replace(tmp, directory)
                shutil.rmtree(backup, ignore_errors=True)
            else:
                os.replace(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Rebuild a saved classifier, checking that the weights fit the config exactly.

        ``directory`` is a model folder, a run folder, or the name of a model shipped inside
        genrenet (:data:`BUNDLED_MODELS`, e.g. ``"gtzan-musicnn"``).
        """
        from genrenet.bundle import load_bundle

        path = Path(directory)
        bundled = str(directory) in BUNDLED_MODELS and not path.exists()
        if bundled:
            path = BUNDLED_DIR / str(directory)
        clf = load_bundle(cls, path)
        clf.source = f"{directory} (bundled with genrenet)" if bundled else str(path)
        return clf

    def describe(self) -> str:
        """One line saying which model this is: where it came from, architecture, genres."""
        arch = self.train_config.model
        kwargs = self.train_config.model_kwargs
        extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        source = getattr(self, "source", None) or "unsaved model"
        return (
            f"{source}: {arch}{f' ({extra})' if extra else ''} on {self.feature_config.kind} "
            f"features, {len(self.labels)} genres"
        )
