"""Fitting networks and heads: hyper-parameters (:mod:`.config`, importable without Lightning),
the Lightning loop (:mod:`.loop`), the per-epoch history (:mod:`.history`) and heads fitted with
scikit-learn on frozen embeddings (:mod:`.transfer`).

Only :class:`TrainConfig` is imported eagerly: loading a model to predict never pays for
Lightning; the loop's names are imported on first use.
"""

from __future__ import annotations

from typing import Any

from genrenet.training.config import TrainConfig

_LOOP_NAMES = ("GenreModule", "TrainResult", "fit_model")

__all__ = ["TrainConfig", *_LOOP_NAMES]


def __getattr__(name: str) -> Any:
    if name in _LOOP_NAMES:
        from genrenet.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'genrenet.training' has no attribute {name!r}")
