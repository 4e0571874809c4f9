"""musicnn's weights: shipped inside genrenet as safetensors, and how they were derived.

The four models of the ``musicnn`` 0.1.0 wheel (Pons and Serra 2019, ISC licence) lie in
``pretrained/weights/``, converted once by ``tools/convert_musicnn.py``; ``PROVENANCE.json``
beside them records the wheel's version, the sha256 of every original checkpoint file and the
command, ``LICENSE-musicnn.txt`` the licence notice. :func:`load_state_dict` reads them from the
package: the wheel is not needed at run time.

:func:`convert` is the documented way to re-derive them: with the wheel installed
(``pip install --no-deps musicnn==0.1.0``: its declared requirements pin an old NumPy and
TensorFlow, neither of which genrenet needs; its package is only located, never imported) it
reads the TensorFlow checkpoint with :mod:`genrenet.pretrained.tf_checkpoint` and renames and
transposes every tensor to the PyTorch port's layout. A test checks the result equals the
shipped tensors bit for bit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import torch

from genrenet.errors import CheckpointError, MissingWeightsError
from genrenet.pretrained.tf_checkpoint import read_checkpoint

MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PROVENANCE_FILE = "PROVENANCE.json"
LICENCE_FILE = "LICENSE-musicnn.txt"
WHEEL_NAME = "musicnn"
WHEEL_VERSION = "0.1.0"
WHEEL_SPEC = f"{WHEEL_NAME}=={WHEEL_VERSION}"
INSTALL_COMMAND = f"pip install --no-deps {WHEEL_SPEC}"
"""Installs the original wheel: needed only to re-derive the shipped weights."""


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown musicnn model {model!r}; choose one of: {', '.join(MODELS)}")


def weights_path(model: str) -> Path:
    """The shipped safetensors file of ``model``."""
    _check_model(model)
    return WEIGHTS_DIR / f"{model}.safetensors"


def provenance() -> dict:
    """The shipped ``PROVENANCE.json``: source wheel, checkpoint checksums, command, outputs."""
    path = WEIGHTS_DIR / PROVENANCE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MissingWeightsError(
            f"{path}: cannot read the weights' provenance ({err}); reinstall genrenet"
        ) from None


def weights_metadata(model: str) -> dict[str, str]:
    """The metadata stored inside a converted safetensors file: one key, since safetensors
    writes several in a random order, and no paths, so the file is byte-for-byte reproducible."""
    return {
        "source": f"{model} of {WHEEL_SPEC} (ISC licence; Pons and Serra 2019), "
        "converted by tools/convert_musicnn.py"
    }


def load_state_dict(model: str) -> dict[str, torch.Tensor]:
    """``model``'s weights for the PyTorch port, from the safetensors file genrenet ships.

    The file's sha256 is checked against ``PROVENANCE.json``, so a damaged install says so
    instead of loading wrong numbers.
    """
    from safetensors.torch import load

    path = weights_path(model)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise MissingWeightsError(
            f"{path}: musicnn's {model} weights are missing from this install "
            f"({err.strerror or err}); reinstall genrenet"
        ) from None
    expected = provenance()["models"][model]["sha256"]
    if hashlib.sha256(blob).hexdigest() != expected:
        raise CheckpointError(
            f"{path}: damaged (its sha256 differs from {PROVENANCE_FILE}); reinstall genrenet"
        )
    return load(blob)


def describe_source() -> str:
    """One line saying where the musicnn weights come from (for ``genrenet --version``)."""
    try:
        source = provenance()["source"]
        origin = f"converted from {source['distribution']} {source['version']}"
    except (MissingWeightsError, KeyError):
        origin = "provenance missing"
    present = [m for m in MODELS if weights_path(m).is_file()]
    return f"{WEIGHTS_DIR} ({', '.join(present) or 'no models'}; {origin})"


# -- re-deriving them from the original wheel -----------------------------------------------
def wheel_folder() -> Path:
    """The installed ``musicnn`` package folder, located without importing it."""
    override = os.environ.get("GENRENET_MUSICNN_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(WHEEL_NAME)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "re-deriving the weights needs the original musicnn wheel (genrenet itself ships "
            f"them converted); install it with: {INSTALL_COMMAND}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def checkpoint_folder(model: str) -> Path:
    """Folder of ``model``'s checkpoint inside the wheel (its files are ``.index`` and
    ``.data-00000-of-00001``)."""
    _check_model(model)
    folder = wheel_folder() / model
    if not (folder / ".index").is_file():
        raise MissingWeightsError(
            f"{folder}: no checkpoint (.index) there; reinstall the wheel with: "
            f"{INSTALL_COMMAND} --force-reinstall"
        )
    return folder


def wheel_licence() -> str:
    """musicnn's ISC licence notice, read from the installed wheel's metadata."""
    import importlib.metadata

    text = importlib.metadata.distribution(WHEEL_NAME).read_text("LICENSE.md")
    if not text:
        raise MissingWeightsError(f"the installed {WHEEL_NAME} wheel has no LICENSE.md")
    return text


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


__all__ = [
    "INSTALL_COMMAND",
    "MODELS",
    "WEIGHTS_DIR",
    "CheckpointError",
    "MissingWeightsError",
    "checkpoint_folder",
    "convert",
    "describe_source",
    "load_state_dict",
    "provenance",
    "weights_path",
]
