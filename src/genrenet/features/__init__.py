"""Features: settings (:class:`FeatureConfig`) and the log-mel / MFCC front ends.

``FeatureConfig`` is importable without torch, so that a run served from the feature cache
starts fast; the torch front ends are loaded on first use.
"""

from __future__ import annotations

from typing import Any

from genrenet.features.config import FEATURE_KINDS, FeatureConfig

_FRONTEND_NAMES = (
    "LogMel",
    "MFCC",
    "compute",
    "compute_stream",
    "frontend",
    "power_to_db",
    "stream_features",
)

__all__ = ["FEATURE_KINDS", "FeatureConfig", *_FRONTEND_NAMES]


def __getattr__(name: str) -> Any:
    if name in _FRONTEND_NAMES:
        from genrenet.features import frontends

        return getattr(frontends, name)
    raise AttributeError(f"module 'genrenet.features' has no attribute {name!r}")
