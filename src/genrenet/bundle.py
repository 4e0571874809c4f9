"""Loading a saved model folder and checking that its weights fit its config exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from genrenet.features import FeatureConfig
from genrenet.patches import Normalizer

if TYPE_CHECKING:
    from genrenet.classifier import Classifier

REQUIRED_KEYS = ("labels", "features", "normalization", "architecture", "patch_seconds")


def resolve_bundle_dir(directory: Path) -> Path:
    """A model folder, or a run folder (``genrenet train --out``) that holds one in ``model/``."""
    from genrenet.classifier import CONFIG_FILE

    if (directory / CONFIG_FILE).exists():
        return directory
    if (directory / "model" / CONFIG_FILE).exists():
        return directory / "model"
    return directory


def read_config(directory: Path) -> dict[str, Any]:
    """Parse and check ``config.json``; a BundleError names the file and the problem."""
    from genrenet.classifier import CONFIG_FILE, BundleError

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
    labels = config["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise BundleError(f"{path}: 'labels' must be a non-empty list of genre names")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{path}: 'labels' has duplicates")
    return config


def load_bundle(cls: type[Classifier], directory: Path) -> Classifier:
    """Rebuild a :class:`Classifier` from ``directory``; every mismatch is named in the error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from genrenet.classifier import WEIGHTS_FILE, BundleError
    from genrenet.models import model_names

    directory = resolve_bundle_dir(directory)
    config = read_config(directory)
    where = directory / "config.json"
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
    clf = cls(
        model=arch["name"],
        features=features,
        crop_seconds=float(config["patch_seconds"]),
        model_kwargs=arch.get("kwargs") or {},
    )
    clf.labels = list(config["labels"])
    clf.normalizer = normalizer
    clf.metadata = {k: v for k, v in config.get("training", {}).items() if k != "config"}
    try:
        network = clf._build_network(loading=True)
    except (TypeError, ValueError) as err:
        raise BundleError(f"{where}: cannot build {arch['name']} ({err})") from None
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.exists():
        raise BundleError(f"{directory}: no {WEIGHTS_FILE}")
    try:
        state = load_file(weights_path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise BundleError(f"{weights_path}: corrupt or not a safetensors file ({err})") from None
    check_state(network.saved_state(), state, weights_path)
    network.load_state_dict(state, strict=False)
    network.eval()
    clf.network = network
    return clf


def check_state(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], where: Path
) -> None:
    """Raise BundleError listing missing, unexpected and wrongly shaped tensors."""
    from genrenet.classifier import BundleError

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
