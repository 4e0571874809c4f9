"""The facade: ``Classifier.fit / predict / predict_proba / evaluate / save / load``.

A saved classifier is a folder holding ``config.json`` (labels, feature settings, normalisation,
architecture and arguments, patch length, training metadata, genrenet version) and
``model.safetensors``: no pickle, safe to receive from someone else.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genrenet import __version__
from genrenet.augment import AugmentConfig
from genrenet.bundle import (
    BUNDLED_DIR,
    BUNDLED_MODELS,
    locate_bundle,
    read_bundle,
    resolve_bundle_dir,
    write_bundle,
)
from genrenet.errors import BundleError
from genrenet.features import FeatureConfig
from genrenet.files import BUNDLE_FORMAT, CONFIG_FILE, WEIGHTS_FILE
from genrenet.inference.ensemble import Ensemble, read_ensemble_config
from genrenet.inference.predictor import Prediction, WindowedPredictor, WindowPlan
from genrenet.patches import SHORT_INPUT_DEFAULT, SHORT_INPUTS, Normalizer
from genrenet.training.config import TrainConfig

__all__ = [
    "BUNDLED_DIR",
    "BUNDLED_MODELS",
    "BUNDLE_FORMAT",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "BundleError",
    "Classifier",
    "Prediction",
]


def softmax_np(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32 (stable)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


_DEFAULTS = TrainConfig()
"""The one place training defaults are written; the keyword defaults below read them."""


class Classifier(WindowedPredictor):
    """A genre classifier: feature front end + normaliser + network + labels.

    It follows scikit-learn's estimator contract: every setting is a keyword argument of
    ``__init__``, stored as given (:meth:`get_params` returns them, :meth:`clone` rebuilds from
    them); defaults that depend on other settings (the features a pretrained model needs, the
    learning rate of fine-tuning, the augmentation) are resolved in :attr:`train_config` and
    :attr:`feature_config`, which raise ValueError for settings that do not fit together.
    :meth:`fit` returns the classifier itself; the run's outcome is kept in :attr:`outcome_`.

    >>> clf = Classifier(model="cnn64", features="mfcc", max_epochs=20)  # doctest: +SKIP
    >>> clf.fit("data/genres", out_dir="runs/cnn64").outcome_.evaluation.track["accuracy"]
    """

    def __init__(
        self,
        model: str = _DEFAULTS.model,
        features: FeatureConfig | str | None = None,
        crop_seconds: float = _DEFAULTS.crop_seconds,
        model_kwargs: dict[str, Any] | None = None,
        *,
        crops_per_track: int = _DEFAULTS.crops_per_track,
        batch_size: int = _DEFAULTS.batch_size,
        optimizer: str = _DEFAULTS.optimizer,
        lr: float | None = None,
        weight_decay: float = _DEFAULTS.weight_decay,
        max_epochs: int = _DEFAULTS.max_epochs,
        patience: int = _DEFAULTS.patience,
        lr_patience: int = _DEFAULTS.lr_patience,
        lr_factor: float = _DEFAULTS.lr_factor,
        class_weights: bool = _DEFAULTS.class_weights,
        label_smoothing: float = _DEFAULTS.label_smoothing,
        seed: int = _DEFAULTS.seed,
        max_minutes: float | None = _DEFAULTS.max_minutes,
        augment: AugmentConfig | dict[str, Any] | str | None = None,
        devices: int = _DEFAULTS.devices,
        num_nodes: int = _DEFAULTS.num_nodes,
        strategy: str = _DEFAULTS.strategy,
        accelerator: str = _DEFAULTS.accelerator,
    ) -> None:
        self.model = model
        self.features = features
        self.crop_seconds = crop_seconds
        self.model_kwargs = model_kwargs
        self.crops_per_track = crops_per_track
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.max_minutes = max_minutes
        self.augment = augment
        self.devices = devices
        self.num_nodes = num_nodes
        self.strategy = strategy
        self.accelerator = accelerator
        self.labels: list[str] = []
        self.network: nn.Module | None = None
        self.normalizer: Normalizer | None = None
        self.metadata: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []
        self.temperature: float = 1.0
        self.calibration: dict[str, Any] | None = None
        self.short_input: str = SHORT_INPUT_DEFAULT
        self.device: torch.device = torch.device("cpu")
        """Where the network scores windows (:meth:`to`); features stay on the CPU."""
        self._resolved: tuple[tuple, FeatureConfig, TrainConfig] | None = None

    # -- settings ---------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        """The keyword arguments of ``__init__``: the classifier's settings."""
        return [n for n in inspect.signature(cls.__init__).parameters if n != "self"]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The settings exactly as given to ``__init__`` (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> Classifier:
        """Change settings (scikit-learn's ``set_params``); unknown names are a ValueError."""
        unknown = sorted(set(params) - set(self.param_names()))
        if unknown:
            raise ValueError(f"Classifier has no setting(s) {unknown}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def clone(self, **changes: Any) -> Classifier:
        """A fresh, untrained classifier with the same settings (``changes`` override them)."""
        return type(self)(**{**self.get_params(), **changes})

    def _resolve(self) -> tuple[FeatureConfig, TrainConfig]:
        """Feature settings and training settings from the parameters, checked together."""
        from genrenet.models.registry import default_lr, required_features

        params = self.get_params()
        key = tuple(repr(v) for v in params.values())
        if self._resolved is not None and self._resolved[0] == key:
            return self._resolved[1], self._resolved[2]
        needed = required_features(self.model)
        features = self.features if self.features is not None else (needed or "logmel")
        feature_config = (
            features if isinstance(features, FeatureConfig) else FeatureConfig.of_kind(features)
        )
        if needed and feature_config.kind != needed:
            raise ValueError(
                f"model {self.model!r} takes its own {needed!r} features, not "
                f"{feature_config.kind!r} (leave the features option out)"
            )
        augment = self.augment
        if isinstance(augment, str):
            augment = AugmentConfig.from_option(augment).to_dict()
        elif isinstance(augment, AugmentConfig):
            augment = augment.to_dict()
        model_kwargs = dict(self.model_kwargs or {})
        settings = {k: v for k, v in params.items() if k not in ("features", "augment")}
        settings["model_kwargs"] = model_kwargs
        settings["lr"] = self.lr if self.lr is not None else default_lr(self.model, model_kwargs)
        train_config = TrainConfig(**settings, augment=dict(augment or {}))
        self._resolved = (key, feature_config, train_config)
        return feature_config, train_config

    @property
    def feature_config(self) -> FeatureConfig:
        """The feature settings (the model's own for pretrained models)."""
        return self._resolve()[0]

    @property
    def train_config(self) -> TrainConfig:
        """The training settings with every default resolved (recorded in the bundle)."""
        return self._resolve()[1]

    @property
    def patch_frames(self) -> int:
        """Frames per model input patch."""
        return self.feature_config.frames_for(self.train_config.crop_seconds)

    def build_network(self, n_classes: int, loading: bool = False) -> nn.Module:
        """A fresh, untrained network of this classifier's architecture for ``n_classes`` genres;
        ``loading`` lets it skip what saved weights replace (e.g. pretrained backbones)."""
        from genrenet.models import build_model
        from genrenet.models.registry import architecture_class

        kwargs = dict(self.train_config.model_kwargs)
        if loading:
            kwargs |= architecture_class(self.train_config.model).loading_kwargs(kwargs)
        return build_model(
            self.train_config.model,
            n_classes=n_classes,
            n_features=self.feature_config.n_features,
            **kwargs,
        )

    def adopt(
        self,
        labels: Sequence[str],
        network: nn.Module,
        normalizer: Normalizer,
        history: list[dict[str, float]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Classifier:
        """Take a trained network, its normaliser and its genre labels as this classifier's own
        (what :meth:`fit` and :meth:`load` do once they have them)."""
        self.labels = list(labels)
        self.network = network.eval().to(self.device)
        self.normalizer = normalizer
        self.history = list(history or [])
        self.metadata = dict(metadata or {})
        self.temperature, self.calibration = 1.0, None  # a new network has no calibration yet
        return self

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
    ) -> Classifier:
        """Train on a collection (folder, GTZAN, FMA or CSV) and evaluate on its held-out tracks.

        Returns the classifier itself, trained; :attr:`outcome_` holds the run's
        :class:`genrenet.evaluation.experiment.TrainOutcome` (split, history, held-out
        evaluation, files). The run folder (``out_dir``) gets checkpoints, logs and the bundle.
        """
        from genrenet.evaluation.experiment import train_on_collection

        self.outcome_ = train_on_collection(
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
        return self

    # -- prediction -------------------------------------------------------------------------
    def _require_trained(self) -> nn.Module:
        if self.network is None or self.normalizer is None or not self.labels:
            raise RuntimeError("this Classifier is not trained: call fit() or Classifier.load()")
        return self.network

    def calibrate(self, record: dict[str, Any]) -> Classifier:
        """Take a calibration (``{"method": "temperature", "temperature": T, ...}``, see
        :func:`genrenet.evaluation.calibration.calibration_record`): scores become
        ``softmax(logits / T)``, the ranking of genres is unchanged."""
        temperature = float(record.get("temperature", 1.0))
        if not np.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"a temperature must be positive and finite, got {temperature}")
        self.temperature = temperature
        self.calibration = dict(record)
        return self

    def window_plan(self, hop_seconds: float | None = None, batch_size: int = 64) -> WindowPlan:
        """Patches of the trained length every ``hop_seconds`` (default: no overlap), the last
        one ending at the song's end; ``batch_size`` windows per network call. A clip shorter
        than one patch (under 3 s) is made one window as :attr:`short_input` says: looped,
        padded with silence, or given as it is to a network that takes any length."""
        patch = self.patch_frames
        mode = self.short_input
        if mode == "shorter" and not getattr(self._require_trained(), "any_length", False):
            mode = "loop"  # a network with a fixed input size takes the looped clip
        return WindowPlan(patch, self.hop_frames(hop_seconds, patch), True, batch_size, mode)

    def to(self, device: str | torch.device = "cpu") -> Classifier:
        """Run the network (and the softmax with its temperature) on ``device`` ("cpu",
        "cuda", "cuda:N", "auto": see :func:`genrenet.devices.resolve_device`); features are
        still computed on the CPU and scores come back as NumPy arrays. A CUDA device that is
        not visible is a :class:`~genrenet.devices.DeviceError`. With an ONNX runtime set, its
        session moves instead (onnxruntime's CUDA provider, or a DeviceError)."""
        from genrenet.devices import resolve_device

        target = resolve_device(device)
        scorer = getattr(self, "scorer", None)
        if scorer is not None:
            from genrenet.inference.runtime import OnnxScorer

            self.scorer = OnnxScorer(scorer.path, chunk=scorer.cpu_chunk, device=target)
        elif self.network is not None:
            self.network.to(target)
        self.device = target  # only once the move worked
        return self

    @torch.no_grad()
    def _device_logits(self, windows: np.ndarray) -> torch.Tensor:
        """Logits ``[n, n_genres]`` (float32, on :attr:`device`) of feature windows; on a GPU
        in full float32 (:func:`genrenet.devices.exact_fp32`)."""
        from genrenet.devices import exact_fp32

        network = self._require_trained()
        batch = torch.from_numpy(self.normalizer(windows)).unsqueeze(1)
        with exact_fp32(self.device):
            return network(batch.to(self.device, non_blocking=True)).float()

    def score_logits(self, windows: np.ndarray) -> np.ndarray:
        """The network's logits ``[n, n_genres]`` for feature windows ``[n, n_features, patch]``."""
        return self._device_logits(windows).cpu().numpy()

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """Calibrated genre probabilities ``softmax(logits / temperature)`` of feature windows
        ``[n, n_features, patch]``; with an ONNX runtime set (:meth:`set_runtime`), the
        exported graph, which holds the same softmax, scores them. On a GPU the softmax runs
        there too, and only the probabilities come back."""
        scorer = getattr(self, "scorer", None)
        if scorer is not None:
            return scorer(self.normalizer(windows)[:, None])
        if self.device.type == "cpu":
            return softmax_np(self.score_logits(windows) / self.temperature)
        logits = self._device_logits(windows)
        return torch.softmax(logits / self.temperature, dim=1).cpu().numpy()

    def window_logits(
        self, feats: np.ndarray, hop_seconds: float | None = None, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits of each sliding window of a feature matrix, and the window start frames
        (what a temperature is fitted on)."""
        plan = self.window_plan(hop_seconds, batch_size)
        return self.score_matrix(feats, plan, self.score_logits)

    def window_proba(
        self, feats: np.ndarray, hop_seconds: float | None = None, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities of each sliding window of a feature matrix, and the window
        start frames."""
        return self.score_matrix(feats, self.window_plan(hop_seconds, batch_size))

    window_scores = window_proba

    def proba_module(self, input: str = "waveform") -> nn.Module:
        """This classifier as one ``torch.nn.Module`` that gives probabilities ``[batch,
        n_labels]`` (``softmax(logits / temperature)``), the graph :meth:`export` writes.

        ``input="waveform"``: windows ``[batch, samples]`` at the model's sample rate (the
        front end, built on a convolution STFT that exports, and the normalisation inside);
        ``input="features"``: normalised feature patches ``[batch, 1, n_features, frames]``.
        """
        from genrenet.features import frontend
        from genrenet.inference.export import INPUTS, ProbaModule

        network = self._require_trained()
        temperature = float(getattr(self, "temperature", 1.0))
        if input == "features":
            return ProbaModule(network, temperature)
        if input != "waveform":
            raise ValueError(f"input must be one of {list(INPUTS)}, got {input!r}")
        return ProbaModule(
            network,
            temperature,
            frontend(self.feature_config, exportable=True),
            self.normalizer.mean,
            self.normalizer.std,
            self.patch_frames,
        )

    @property
    def window_seconds(self) -> float:
        """Length of one model input patch."""
        return self.train_config.crop_seconds

    def evaluate(
        self, data: str | Path, cache: Path | None = None, workers: int = 2, progress: bool = False
    ):
        """Per-segment and per-track figures of this model on a labelled collection."""
        from genrenet.evaluation.experiment import evaluate_on_collection

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
            "short_input": self.short_input,
            "training": {"config": self.train_config.to_dict(), **self.metadata},
            **({"calibration": self.calibration} if self.calibration else {}),
        }

    def save(self, directory: str | Path) -> Path:
        """Write the bundle atomically: a crash never leaves a half-written model folder."""
        network = self._require_trained()
        return write_bundle(Path(directory), self.config_dict(), network.saved_state())

    def content_key(self) -> str:
        """A digest of everything the model computes with (config, every tensor, temperature)
        and genrenet's version: the name of its cached exported graphs."""
        import hashlib
        import json

        digest = hashlib.sha256(f"genrenet {__version__}".encode())
        config = {k: v for k, v in self.config_dict().items() if k != "training"}
        config["temperature"] = float(getattr(self, "temperature", 1.0))
        digest.update(json.dumps(config, sort_keys=True).encode())
        for name, tensor in sorted(self._require_trained().state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:32]

    def set_runtime(self, runtime: str = "torch", cache_dir: Path | None = None) -> Classifier:
        """Score windows with PyTorch ("torch") or ONNX Runtime ("onnx"; "onnx-int8" is
        experimental and warns); the graph is exported on first use and cached
        (:func:`genrenet.inference.runtime.cached_graph`). "onnx" gives the same outputs as
        PyTorch within 1e-4."""
        from genrenet.inference.runtime import (
            RUNTIMES,
            SHIPPED_RUNTIMES,
            OnnxScorer,
            cached_graph,
        )

        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
        if runtime not in SHIPPED_RUNTIMES:
            import warnings

            warnings.warn(
                f"runtime {runtime!r} is experimental: its top genre differs from fp32's on "
                "some tracks (see genrenet.inference.runtime.SHIPPED_RUNTIMES)",
                stacklevel=2,
            )
        self.runtime = runtime
        self.scorer = None
        if runtime == "torch":
            self.network.to(self.device)
            return self
        path = cached_graph(self, self.content_key(), runtime, cache_dir)
        chunk = getattr(self.network, "cpu_chunk", 8)
        self.scorer = OnnxScorer(path, chunk=chunk, device=self.device)
        self.network.to("cpu")  # the graph scores the windows; the network is not used
        return self

    def export(self, path: str | Path, input: str = "waveform", int8: bool = False) -> Path:
        """Write this model as one ONNX graph (waveform windows or feature patches in,
        probabilities out) with a sidecar config; see :func:`genrenet.inference.export
        .export_model`."""
        from genrenet.inference.export import export_model

        self._require_trained()
        return export_model(self, path, input, int8=int8)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        runtime: str = "torch",
        cache_dir: Path | None = None,
        device: str | torch.device = "cpu",
    ) -> Classifier | Ensemble:
        """Rebuild a saved classifier, checking that the weights fit the config exactly.

        ``directory`` is a model folder, a run folder, or the name of a model shipped inside
        genrenet (:data:`BUNDLED_MODELS`, e.g. ``"gtzan-musicnn"``). A saved ensemble loads
        as an :class:`~genrenet.inference.ensemble.Ensemble` (same prediction methods). Raises
        :class:`~genrenet.errors.BundleError` naming the file and the problem. ``runtime``
        chooses what scores the windows (:meth:`set_runtime`), ``device`` where the network
        runs (:meth:`to`: "cpu", the default, "cuda", "cuda:N" or "auto"; a CUDA device that
        is not visible is a :class:`~genrenet.devices.DeviceError`).
        """
        from genrenet.devices import resolve_device

        target = resolve_device(device)  # checked before any weight is read
        path, bundled = locate_bundle(directory)
        ensemble_config = read_ensemble_config(resolve_bundle_dir(path))
        if ensemble_config is not None:
            ensemble = Ensemble.load(resolve_bundle_dir(path), cls.load, ensemble_config)
            ensemble.source = f"{directory} (bundled with genrenet)" if bundled else str(path)
            return ensemble.to(target)
        contents = read_bundle(path)
        clf = cls(
            model=contents.architecture,
            features=contents.features,
            crop_seconds=contents.patch_seconds,
            model_kwargs=contents.model_kwargs,
        )
        try:
            network = clf.build_network(len(contents.labels), loading=True)
        except (TypeError, ValueError) as err:
            raise BundleError(
                f"{contents.config_path}: cannot build {contents.architecture} ({err})"
            ) from None
        state = contents.load_weights(network.saved_state())
        network.load_state_dict(state, strict=False)
        clf.adopt(contents.labels, network, contents.normalizer, metadata=contents.metadata)
        calibration = contents.config.get("calibration")
        try:
            if calibration is not None:
                clf.calibrate(calibration)
            short_input = contents.config.get("short_input", SHORT_INPUT_DEFAULT)
            if short_input not in SHORT_INPUTS:
                raise ValueError(f"short_input {short_input!r} is not one of {SHORT_INPUTS}")
        except (AttributeError, TypeError, ValueError) as err:
            raise BundleError(
                f"{contents.config_path}: bad calibration or short_input ({err})"
            ) from None
        clf.short_input = short_input
        clf.source = f"{directory} (bundled with genrenet)" if bundled else str(path)
        if runtime == "torch":
            return clf.to(target)
        clf.device = target  # the ONNX session starts there; the graph is exported on the CPU
        return clf.set_runtime(runtime, cache_dir)

    def describe(self) -> str:
        """One line saying which model this is: where it came from, architecture, genres."""
        arch = self.train_config.model
        kwargs = self.train_config.model_kwargs
        extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        source = getattr(self, "source", None) or "unsaved model"
        runtime = getattr(self, "runtime", "torch")
        return (
            f"{source}: {arch}{f' ({extra})' if extra else ''} on {self.feature_config.kind} "
            f"features, {len(self.labels)} genres"
            + (f", runtime {runtime}" if runtime != "torch" else "")
            + (f", on {self.device}" if self.device.type != "cpu" else "")
        )
