"""CNN architectures for genre classification, built by name via :func:`build_model`."""

from __future__ import annotations

from genrenet.models.base import GenreModel
from genrenet.models.registry import MODELS, arch_options, build_model, model_names

__all__ = ["MODELS", "GenreModel", "arch_options", "build_model", "model_names"]
