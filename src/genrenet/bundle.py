"""Reading a saved model folder (``config.json`` + ``model.safetensors``) and checking it.

This module knows the bundle's on-disk form and nothing of the :class:`Classifier` that is
rebuilt from it: :func:`read_bundle` returns the parsed, checked parts, and the facade builds its
network from them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genrenet.errors import BundleError
from genrenet.features import FeatureConfig
from genrenet.files import CONFIG_FILE, MODEL_DIR, WEIGHTS_FILE
from genrenet.patches import Normalizer

#: Models shipped inside the package, loadable by name.
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained" / "models"
BUNDLED_MODELS = ("gtzan-musicnn",)

REQUIRED_KEYS = ("labels", "features", "normalization", "architecture", "patch_seconds")


def resolve_bundle_dir(directory: Path) -> Path:
    """A model folder, or a run folder (``genrenet train --out``) that holds one in ``model/``."""
    if (directory / CONFIG_FILE).exists():
        return directory
    if (directory / MODEL_DIR / CONFIG_FILE).exists():
        return directory / MODEL_DIR
    return directory


def locate_bundle(name_or_path: str | Path) -> tuple[Path, bool]:
    """The folder of a model given by path or by the name of a bundled model, and whether it is
    one of the bundled ones (a path that exists wins over a bundled name)."""
    path = Path(name_or_path)
    if str(name_or_path) in BUNDLED_MODELS and not path.exists():
        return BUNDLED_DIR / str(name_or_path), True
    return path, False


def read_config(directory: Path) -> dict[str, Any]:
    """Parse and check ``config.json``; a BundleError names the file and the problem."""
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise BundleError(f"{directory}: no such model folder")
    if not path.exists():
        raise BundleError(f"{directory}: not a genrenet model (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise BundleError(f"{path}: expected a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise BundleError(f"{path}: missing {', '.join(missing)}")
    bad = list(non_finite_numbers(config))
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise BundleError(f"{path}: NaN or infinite numbers at {shown}")
    labels = config["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise BundleError(f"{path}: 'labels' must be a non-empty list of genre names")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{path}: 'labels' has duplicates")
    return config


def non_finite_numbers(value: Any, where: str = "") -> Iterator[str]:
    """The key paths (``normalization.mean[0]``) of every NaN or infinite number in ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where or "(top level)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite_numbers(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from non_finite_numbers(item, f"{where}[{i}]")


@dataclass
class BundleContents:
    """The checked parts of a saved model folder, ready for the facade to rebuild a model."""

    directory: Path
    config: dict[str, Any]
    labels: list[str]
    features: FeatureConfig
    normalizer: Normalizer
    architecture: str
    model_kwargs: dict[str, Any]
    patch_seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        """Where the config came from, for error messages."""
        return self.directory / CONFIG_FILE

    def load_weights(self, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The bundle's tensors, checked against the ``expected`` ones of the rebuilt network."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        weights_path = self.directory / WEIGHTS_FILE
        if not weights_path.exists():
            raise BundleError(f"{self.directory}: no {WEIGHTS_FILE}")
        try:
            state = load_file(weights_path)
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise BundleError(
                f"{weights_path}: corrupt or not a safetensors file ({err})"
            ) from None
        check_state(expected, state, weights_path)
        return state


def read_bundle(directory: Path) -> BundleContents:
    """Parse and check a model folder (or a run folder holding one); every mismatch is named."""
    from genrenet.models import model_names

    directory = resolve_bundle_dir(Path(directory))
    config = read_config(directory)
    where = directory / CONFIG_FILE
    try:
        features = FeatureConfig.from_dict(config["features"])
    except (TypeError, ValueError) as err:
        raise BundleError(f"{where}: bad feature settings ({err})") from None
    arch = config["architecture"]
    if not isinstance(arch, dict) or arch.get("name") not in model_names():
        raise BundleError(
            f"{where}: unknown architecture {arch!r}; known: {', '.join(model_names())}"
        )
    normalizer = Normalizer.from_dict(config["normalization"])
    if (
        normalizer.mean.shape != (features.n_features,)
        or normalizer.std.shape != normalizer.mean.shape
    ):
        raise BundleError(
            f"{where}: normalization has {normalizer.mean.shape[0]} bands, the features "
            f"{features.n_features}"
        )
    if not (normalizer.std > 0).all():
        raise BundleError(f"{where}: normalization.std must be positive in every band")
    return BundleContents(
        directory=directory,
        config=config,
        labels=list(config["labels"]),
        features=features,
        normalizer=normalizer,
        architecture=arch["name"],
        model_kwargs=dict(arch.get("kwargs") or {}),
        patch_seconds=float(config["patch_seconds"]),
        metadata={k: v for k, v in config.get("training", {}).items() if k != "config"},
    )


def write_bundle(directory: Path, config: dict[str, Any], state: dict[str, torch.Tensor]) -> Path:
    """Write a bundle atomically: a crash never leaves a half-written model folder."""
    from safetensors.torch import save

    from genrenet import __version__
    from genrenet.files import atomic_directory, atomic_write, write_json

    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        # serialised here and written by atomic_write: safetensors' own save_file makes 0600 files
        atomic_write(tmp / WEIGHTS_FILE, save(tensors, metadata={"genrenet_version": __version__}))
        write_json(tmp / CONFIG_FILE, config)
    return directory


def check_state(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], where: Path
) -> None:
    """Raise BundleError listing missing, unexpected and wrongly shaped tensors."""
    problems = []
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        problems.append(
            f"missing tensors: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
        )
    if extra:
        problems.append(
            f"unexpected tensors: {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else "")
        )
    for key in sorted(set(expected) & set(found)):
        if tuple(expected[key].shape) != tuple(found[key].shape):
            problems.append(
                f"{key} has shape {tuple(found[key].shape)}, the config needs "
                f"{tuple(expected[key].shape)}"
            )
        elif not torch.isfinite(found[key].float()).all():
            problems.append(f"{key} holds NaN or infinite values")
    if problems:
        raise BundleError(f"{where}: the weights do not fit the config: " + "; ".join(problems))
