"""An ensemble of saved models: the weighted mean of its members' calibrated probabilities.

A saved ensemble is a folder like any model's: ``config.json`` (``"kind": "ensemble"``, the
labels, each member's folder and weight, how the weights were chosen, an optional temperature)
and ``members/<i>-<name>/``, one complete model folder per member, so the folder is
self-contained. :meth:`genrenet.classifier.Classifier.load` dispatches here, so ``predict``,
``evaluate`` and the Python API take an ensemble wherever they take a model.

Each file's features are computed once per distinct front end: members that share feature
settings (an MSD and an MTT musicnn head) share one feature matrix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genrenet import __version__
from genrenet.errors import BundleError
from genrenet.features import FeatureConfig
from genrenet.files import BUNDLE_FORMAT, CONFIG_FILE, atomic_directory, write_json
from genrenet.inference.predictor import WindowedPredictor

ENSEMBLE_KIND = "ensemble"
MEMBERS_DIR = "members"


def is_ensemble_config(config: dict[str, Any]) -> bool:
    """True when a parsed ``config.json`` describes an ensemble."""
    return isinstance(config, dict) and config.get("kind") == ENSEMBLE_KIND


class MemberFeatures(dict):
    """One file's feature matrices, one per distinct front end (keyed by the settings' digest).
    ``shape`` is that of the first member's matrix, for the timeline."""

    @property
    def shape(self) -> tuple[int, ...]:
        return next(iter(self.values())).shape


def feature_key(config: FeatureConfig) -> str:
    """Members with equal feature settings share one matrix under this key."""
    return config.digest()


class Ensemble(WindowedPredictor):
    """Weighted mean of the calibrated window probabilities of ``members`` (models with the
    same genre labels in the same order), optionally re-calibrated by a temperature on the log
    of the mean (``softmax(log p / T)``)."""

    streams = False  # members may have different front ends: whole feature matrices per file

    def __init__(
        self,
        members: Sequence[Any],
        weights: Sequence[float] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two models")
        labels = list(members[0].labels)
        for i, member in enumerate(members[1:], start=2):
            if list(member.labels) != labels:
                raise ValueError(
                    f"model {i} has genres {list(member.labels)}, model 1 {labels}: an ensemble "
                    "needs the same genres in the same order"
                )
        w = np.full(len(members), 1.0) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(members),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"need one non-negative weight per model, got {list(w)}")
        if w.sum() <= 0:
            raise ValueError("the weights sum to zero")
        self.members = list(members)
        self.weights = w / w.sum()
        self.labels = labels
        self.metadata = dict(metadata or {})
        self.temperature = 1.0
        self.calibration: dict[str, Any] | None = None
        self.source: str | None = None

    @property
    def device(self) -> torch.device:
        """Where the first member's network runs (:meth:`to` moves them all)."""
        return getattr(self.members[0], "device", torch.device("cpu"))

    def to(self, device: str | torch.device = "cpu") -> Ensemble:
        """Run every member's network on ``device`` (see ``Classifier.to``); the weighted mean
        of their probabilities is a few numbers per window, mixed on the CPU."""
        for member in self.members:
            member.to(device)
        return self

    # -- what the prediction pipeline needs ------------------------------------------------
    @property
    def feature_config(self) -> FeatureConfig:
        """The first member's feature settings (the timeline's frames are in its hops)."""
        return self.members[0].feature_config

    @property
    def feature_configs(self) -> list[FeatureConfig]:
        """The distinct front ends of the members, in member order."""
        seen: dict[str, FeatureConfig] = {}
        for member in self.members:
            seen.setdefault(feature_key(member.feature_config), member.feature_config)
        return list(seen.values())

    @property
    def window_seconds(self) -> float:
        """The first member's window length."""
        return self.members[0].window_seconds

    def features_of(self, path: str | Path, block_seconds: float = 60.0) -> MemberFeatures:
        """Features of ``path`` for each distinct front end, each computed once."""
        out = MemberFeatures()
        for config in self.feature_configs:
            member = next(m for m in self.members if m.feature_config == config)
            out[feature_key(config)] = member.features_of(path, block_seconds)
        return out

    def calibrate(self, record: dict[str, Any]) -> Ensemble:
        """Take a temperature for the mixed probabilities (see :meth:`window_proba`)."""
        temperature = float(record.get("temperature", 1.0))
        if not np.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"a temperature must be positive and finite, got {temperature}")
        self.temperature, self.calibration = temperature, dict(record)
        return self

    def member_window_proba(
        self, feats: np.ndarray | dict[str, np.ndarray], hop_seconds: float | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Each member's window probabilities on the first member's windows, and their starts.

        Members with other window lengths or hops are matched window by window to the first
        member's windows by nearest start time."""
        if not isinstance(feats, dict):
            feats = MemberFeatures({feature_key(self.feature_config): np.asarray(feats)})
        ref_probs, ref_starts = None, None
        out = []
        for member in self.members:
            cfg = member.feature_config
            key = feature_key(cfg)
            if key not in feats:
                raise ValueError(f"no features computed for the {cfg.kind} front end")
            probs, starts = member.window_proba(feats[key], hop_seconds)
            seconds = starts * cfg.hop_length / cfg.sample_rate
            if ref_probs is None:
                ref_probs, ref_starts = probs, seconds
            elif len(probs) != len(ref_probs) or not np.allclose(seconds, ref_starts, atol=0.05):
                nearest = np.abs(seconds[None, :] - ref_starts[:, None]).argmin(axis=1)
                probs = probs[nearest]
            out.append(np.asarray(probs, np.float64))
        ref_cfg = self.feature_config
        return out, np.round(ref_starts * ref_cfg.sample_rate / ref_cfg.hop_length).astype(np.int64)

    def mix(self, member_probs: Sequence[np.ndarray]) -> np.ndarray:
        """The weighted mean of member probabilities, then the ensemble's temperature."""
        mixed = sum(w * p for w, p in zip(self.weights, member_probs, strict=True))
        if self.temperature != 1.0:
            logp = np.log(np.clip(mixed, 1e-12, 1.0)) / self.temperature
            logp -= logp.max(axis=-1, keepdims=True)
            mixed = np.exp(logp) / np.exp(logp).sum(axis=-1, keepdims=True)
        return np.asarray(mixed, np.float32)

    def window_proba(
        self,
        feats: np.ndarray | dict[str, np.ndarray],
        hop_seconds: float | None = None,
        batch_size: int = 64,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mixed probabilities of each window ``[n_windows, n_labels]`` and the start frames."""
        member_probs, starts = self.member_window_proba(feats, hop_seconds)
        return self.mix(member_probs), starts

    window_scores = window_proba

    def describe(self) -> str:
        """One line: where the ensemble came from and what its members are."""
        parts = ", ".join(
            f"{w:.2f} x {m.train_config.model if hasattr(m, 'train_config') else 'ensemble'}"
            for w, m in zip(self.weights, self.members, strict=True)
        )
        where = f", on {self.device}" if self.device.type != "cpu" else ""
        return (
            f"{self.source or 'unsaved ensemble'}: ensemble of {parts}; {len(self.labels)} "
            f"genres{where}"
        )

    # -- export -----------------------------------------------------------------------------
    def proba_module(self, input: str = "waveform") -> nn.Module:
        """A module from waveform windows ``[batch, samples]`` (or, ``input="features"``, feature
        patches ``[batch, 1, n_features, frames]`` before normalisation, when every member shares
        one front end: each member applies its own normaliser) to the ensemble's probabilities
        ``[batch, n_labels]``; each distinct front end runs once."""
        from genrenet.features import frontend

        if input not in ("waveform", "features"):
            raise ValueError(f"input must be 'waveform' or 'features', got {input!r}")
        configs = self.feature_configs
        if input == "features" and len(configs) > 1:
            raise ValueError("members use different front ends: export with input='waveform'")
        keys = [feature_key(c) for c in configs]
        which = [keys.index(feature_key(m.feature_config)) for m in self.members]
        heads = [member_features_module(m) for m in self.members]
        frontends = [frontend(c) for c in configs] if input == "waveform" else None
        return EnsembleModule(frontends, heads, which, self.weights, self.temperature)

    # -- persistence ------------------------------------------------------------------------
    def config_dict(self, member_dirs: Sequence[str]) -> dict[str, Any]:
        """``config.json`` of the saved ensemble."""
        return {
            "format": BUNDLE_FORMAT,
            "kind": ENSEMBLE_KIND,
            "genrenet_version": __version__,
            "labels": self.labels,
            "members": [
                {"path": d, "weight": float(w)}
                for d, w in zip(member_dirs, self.weights, strict=True)
            ],
            "ensemble": self.metadata,
            **({"calibration": self.calibration} if self.calibration else {}),
        }

    def save(self, directory: str | Path) -> Path:
        """Write the ensemble and a full copy of each member atomically."""
        directory = Path(directory)
        names = []
        with atomic_directory(directory) as tmp:
            for i, member in enumerate(self.members):
                name = f"{MEMBERS_DIR}/{i:02d}"
                member.save(tmp / name)
                names.append(name)
            write_json(tmp / CONFIG_FILE, self.config_dict(names))
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, load_member: Callable[[Path], Any], config: dict[str, Any]
    ) -> Ensemble:
        """Rebuild a saved ensemble whose parsed ``config`` is given; ``load_member`` loads one
        member folder (``Classifier.load``). A missing or broken member is a BundleError."""
        directory = Path(directory)
        where = directory / CONFIG_FILE
        entries = config.get("members")
        if not isinstance(entries, list) or len(entries) < 2:
            raise BundleError(f"{where}: an ensemble needs a 'members' list of at least two")
        members, weights = [], []
        for i, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise BundleError(f"{where}: member {i} needs a 'path'")
            path = directory / entry["path"]
            if not (path / CONFIG_FILE).is_file():
                raise BundleError(
                    f"{directory}: member {i} of {len(entries)} is missing ({path} holds no "
                    f"{CONFIG_FILE}); the ensemble cannot be used without it"
                )
            try:
                members.append(load_member(path))
            except BundleError as err:
                raise BundleError(f"{directory}: member {i} cannot be loaded: {err}") from None
            weights.append(entry.get("weight", 1.0))
        try:
            ensemble = cls(members, weights, config.get("ensemble") or {})
            if config.get("calibration"):
                ensemble.calibrate(config["calibration"])
        except (TypeError, ValueError) as err:
            raise BundleError(f"{where}: {err}") from None
        if list(config.get("labels") or []) != ensemble.labels:
            raise BundleError(f"{where}: 'labels' differ from the members' genres")
        return ensemble


def read_ensemble_config(directory: Path) -> dict[str, Any] | None:
    """The parsed ``config.json`` of ``directory`` when it describes an ensemble, else None."""
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return config if is_ensemble_config(config) else None


class FeaturesToProba(nn.Module):
    """One member from feature patches ``[batch, 1, n_features, frames]`` (before its
    normaliser) to calibrated probabilities; longer patches are cut to the member's length."""

    def __init__(self, member: Any) -> None:
        super().__init__()
        self.network = member.network
        norm = member.normalizer
        self.register_buffer("mean", torch.from_numpy(norm.mean).view(1, 1, -1, 1))
        self.register_buffer("std", torch.from_numpy(norm.std).view(1, 1, -1, 1))
        self.patch_frames = int(member.patch_frames)
        self.temperature = float(member.temperature)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = (patches[..., : self.patch_frames] - self.mean) / self.std
        return torch.softmax(self.network(x) / self.temperature, dim=1)


def member_features_module(member: Any) -> nn.Module:
    """A member as a module on un-normalised feature patches: members that share a front end
    may still normalise differently, so each applies its own normaliser here."""
    if isinstance(member, Ensemble):
        raise ValueError("nested ensembles cannot be exported; list their members instead")
    return FeaturesToProba(member)


class EnsembleModule(nn.Module):
    """Front ends (each once) -> member modules -> weighted mean -> temperature."""

    def __init__(
        self,
        frontends: list[nn.Module] | None,
        heads: list[nn.Module],
        which: list[int],
        weights: np.ndarray,
        temperature: float,
    ) -> None:
        super().__init__()
        self.frontends = nn.ModuleList(frontends) if frontends is not None else None
        self.heads = nn.ModuleList(heads)
        self.which = list(which)
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fronts = self.frontends
        feats = [x] if fronts is None else [fe(x).unsqueeze(1) for fe in fronts]
        mixed = sum(
            self.weights[i] * head(feats[j])
            for i, (head, j) in enumerate(zip(self.heads, self.which, strict=True))
        )
        if self.temperature != 1.0:
            mixed = torch.softmax(torch.log(mixed.clamp_min(1e-12)) / self.temperature, dim=1)
        return mixed
