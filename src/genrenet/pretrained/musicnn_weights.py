"""musicnn's weights: found in the installed ``musicnn`` wheel, converted once to safetensors.

The wheel is installed with ``pip install --no-deps musicnn==0.1.0`` (its declared requirements
pin an old NumPy and TensorFlow, neither of which genrenet needs). Its package is only located,
never imported. The first use reads the TensorFlow checkpoint with
:mod:`genrenet.pretrained.tf_checkpoint`, renames and transposes every tensor to the PyTorch
port's layout, and writes ``<cache>/pretrained/<model>-<digest>.safetensors`` atomically.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from genrenet.data.store import cache_unwritable
from genrenet.errors import GenrenetWarning, MissingWeightsError
from genrenet.files import atomic_write
from genrenet.pretrained.tf_checkpoint import CheckpointError, read_checkpoint

INSTALL_COMMAND = "pip install --no-deps musicnn==0.1.0"
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


def wheel_folder() -> Path:
    """The installed ``musicnn`` package folder, located without importing it."""
    override = os.environ.get("GENRENET_MUSICNN_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "the pretrained musicnn weights are not installed; install them with: "
            f"{INSTALL_COMMAND}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def checkpoint_folder(model: str) -> Path:
    """Folder of ``model``'s checkpoint inside the wheel (its files are ``.index`` and
    ``.data-00000-of-00001``)."""
    if model not in MODELS:
        raise ValueError(f"unknown musicnn model {model!r}; choose one of: {', '.join(MODELS)}")
    folder = wheel_folder() / model
    if not (folder / ".index").is_file():
        raise MissingWeightsError(
            f"{folder}: no checkpoint (.index) there; reinstall the weights with: "
            f"{INSTALL_COMMAND} --force-reinstall"
        )
    return folder


def _conv2d(kernel: np.ndarray) -> np.ndarray:
    """TensorFlow HWIO -> PyTorch OIHW."""
    return kernel.transpose(3, 2, 0, 1)


def _conv1d(kernel: np.ndarray) -> np.ndarray:
    """A [7, width, 1, out] TensorFlow kernel spanning all features -> Conv1d [out, width, 7]."""
    return kernel[:, :, 0, :].transpose(2, 1, 0)


def _bn(tf_name: str, torch_name: str) -> dict[str, tuple[str, object]]:
    return {
        f"{torch_name}.weight": (f"{tf_name}/gamma", None),
        f"{torch_name}.bias": (f"{tf_name}/beta", None),
        f"{torch_name}.running_mean": (f"{tf_name}/moving_mean", None),
        f"{torch_name}.running_var": (f"{tf_name}/moving_variance", None),
    }


def _layer(tf_name: str, torch_name: str, convert: object) -> dict[str, tuple[str, object]]:
    return {
        f"{torch_name}.weight": (f"{tf_name}/kernel", convert),
        f"{torch_name}.bias": (f"{tf_name}/bias", None),
    }


def _bn_name(i: int) -> str:
    return "batch_normalization" if i == 0 else f"batch_normalization_{i}"


def musicnn_mapping() -> dict[str, tuple[str, object]]:
    """PyTorch parameter name -> (TensorFlow variable, conversion) for the musicnn models.

    TensorFlow numbered layers in the order the graph built them: input BN, the two timbral
    and three temporal branches (conv, BN each), the three mid-end layers, the back end.
    """
    m = _bn(_bn_name(0), "input_bn")
    branches = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2"]
    for i, branch in enumerate(branches):
        m |= _layer(f"conv2d{'' if i == 0 else f'_{i}'}", f"{branch}.block.conv", _conv2d)
        m |= _bn(_bn_name(i + 1), f"{branch}.block.bn")
    for j in range(3):
        m |= _layer(f"conv2d_{5 + j}", f"midend.{j}.conv", _conv1d)
        m |= _bn(_bn_name(6 + j), f"midend.{j}.bn")
    m |= _bn(_bn_name(9), "pool_bn")
    m |= _layer("dense", "dense", np.transpose)
    m |= _bn(_bn_name(10), "dense_bn")
    m |= _layer("dense_1", "output", np.transpose)
    return m


def vgg_mapping() -> dict[str, tuple[str, object]]:
    """PyTorch parameter name -> (TensorFlow variable, conversion) for the VGG baselines."""
    m = _bn(_bn_name(0), "input_bn")
    for i in range(5):
        m |= _layer(f"{i + 1}CNN", f"blocks.{i}.conv", _conv2d)
        m |= _bn(_bn_name(i + 1), f"blocks.{i}.bn")
    m |= _layer("dense", "output", np.transpose)
    return m


def convert(model: str, folder: Path | None = None) -> dict[str, torch.Tensor]:
    """Read ``model``'s TensorFlow checkpoint and return the PyTorch state dict."""
    folder = folder or checkpoint_folder(model)
    mapping = vgg_mapping() if model.endswith("vgg") else musicnn_mapping()
    arrays = read_checkpoint(folder, sorted({tf for tf, _ in mapping.values()}))
    state = {}
    for name, (tf_name, conversion) in mapping.items():
        value = arrays[tf_name]
        if conversion is not None:
            value = conversion(value)
        state[name] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    for name in list(state):
        if name.endswith("running_var"):
            state[name.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    return state


def cache_path(model: str, cache: Path | None = None) -> Path:
    """Where the converted weights of ``model`` are cached; the name changes with the source."""
    from genrenet.data.store import default_cache_dir

    folder = checkpoint_folder(model)
    digest = hashlib.sha256()
    for name in (".index", ".data-00000-of-00001"):
        file = folder / name
        digest.update(f"{name}:{file.stat().st_size}:{file.stat().st_mtime_ns}".encode())
    return (
        (cache or default_cache_dir())
        / "pretrained"
        / f"{model}-{digest.hexdigest()[:12]}.safetensors"
    )


def load_state_dict(model: str, cache: Path | None = None) -> dict[str, torch.Tensor]:
    """``model``'s weights for the PyTorch port, converting and caching them on first use.

    A cached file that cannot be read is converted again; a conversion that fails leaves no
    file behind.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    path = cache_path(model, cache)
    if path.is_file():
        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError):
            pass  # damaged cache entry: rebuild it below
    state = convert(model)
    metadata = {"source": str(checkpoint_folder(model)), "model": model}
    try:
        atomic_write(path, save(state, metadata=metadata))  # save_file would make a 0600 file
    except OSError as err:  # a read-only home or container: work on without the cache
        warnings.warn(cache_unwritable(path.parent, err), GenrenetWarning, stacklevel=2)
    return state


__all__ = [
    "INSTALL_COMMAND",
    "MODELS",
    "CheckpointError",
    "MissingWeightsError",
    "checkpoint_folder",
    "convert",
    "load_state_dict",
]
