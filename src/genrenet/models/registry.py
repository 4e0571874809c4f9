"""Architectures by name, and the one function that builds them with checked keyword arguments."""

from __future__ import annotations

import inspect
from typing import Any

from genrenet.models.base import GenreModel
from genrenet.models.cnn64 import CNN64
from genrenet.models.cnn_rnn import CNNRNN
from genrenet.models.crnn import CRNN
from genrenet.models.fcn5 import FCN5
from genrenet.models.imagenet import ImageNetBackbone
from genrenet.models.lenet5 import LeNet5
from genrenet.models.musicnn import MusicnnGenre
from genrenet.models.resnet import ShortChunkResNet

MODELS: dict[str, type[GenreModel]] = {
    cls.name: cls
    for cls in (LeNet5, CNN64, FCN5, CRNN, CNNRNN, ShortChunkResNet, MusicnnGenre, ImageNetBackbone)
}
#: Names that build a registered architecture with some arguments fixed.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "musicnn-msd": ("musicnn", {"tagger": "msd"}),
    "musicnn-mtt": ("musicnn", {"tagger": "mtt"}),
}
_FIXED = ("self", "n_classes", "n_features")


def model_names() -> list[str]:
    """Registered architecture names, in registry order, then the aliases."""
    return list(MODELS) + list(ALIASES)


def resolve(name: str) -> tuple[str, dict[str, Any]]:
    """(architecture, fixed keyword arguments) of a model name or alias."""
    if name in ALIASES:
        return ALIASES[name]
    return name, {}


def required_features(name: str) -> str | None:
    """The feature kind an architecture needs (None: any)."""
    return architecture_class(name).required_features


def arch_options(name: str) -> dict[str, Any]:
    """The keyword arguments an architecture accepts, with their defaults."""
    base, fixed = resolve(name)
    params = inspect.signature(_lookup(base).__init__).parameters
    return {k: p.default for k, p in params.items() if k not in _FIXED and k not in fixed}


def build_model(name: str, n_classes: int, n_features: int, **kwargs: Any) -> GenreModel:
    """Build architecture ``name``; unknown names and unknown keyword arguments are ValueErrors."""
    base, fixed = resolve(name)
    cls = _lookup(base)
    allowed = arch_options(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"model {name!r} has no option(s) {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(allowed) or '(none)'}"
        )
    return cls(n_classes, n_features, **fixed, **kwargs)


def architecture_class(name: str) -> type[GenreModel]:
    """The class behind a model name or alias."""
    return _lookup(resolve(name)[0])


def _lookup(name: str) -> type[GenreModel]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}")
    return MODELS[name]


def default_lr(name: str, kwargs: dict[str, Any]) -> float:
    """Adam's learning rate when none is given: 1e-3, or 1e-4 when fine-tuning a pretrained
    backbone (a smaller step keeps what it learned)."""
    base, fixed = resolve(name)
    return _lookup(base).default_lr({**fixed, **kwargs})
