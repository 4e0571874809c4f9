"""Architectures by name, and the one function that builds them with checked keyword arguments."""

from __future__ import annotations

import inspect
from typing import Any

from genrenet.models.base import GenreModel
from genrenet.models.cnn64 import CNN64
from genrenet.models.cnn_rnn import CNNRNN
from genrenet.models.crnn import CRNN
from genrenet.models.fcn5 import FCN5
from genrenet.models.lenet5 import LeNet5
from genrenet.models.resnet import ShortChunkResNet

MODELS: dict[str, type[GenreModel]] = {
    cls.name: cls for cls in (LeNet5, CNN64, FCN5, CRNN, CNNRNN, ShortChunkResNet)
}
_FIXED = ("self", "n_classes", "n_features")


def model_names() -> list[str]:
    """Registered architecture names, in registry order."""
    return list(MODELS)


def arch_options(name: str) -> dict[str, Any]:
    """The keyword arguments an architecture accepts, with their defaults."""
    params = inspect.signature(_lookup(name).__init__).parameters
    return {k: p.default for k, p in params.items() if k not in _FIXED}


def build_model(name: str, n_classes: int, n_features: int, **kwargs: Any) -> GenreModel:
    """Build architecture ``name``; unknown names and unknown keyword arguments are ValueErrors."""
    cls = _lookup(name)
    allowed = arch_options(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"model {name!r} has no option(s) {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(allowed) or '(none)'}"
        )
    return cls(n_classes, n_features, **kwargs)


def _lookup(name: str) -> type[GenreModel]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]
