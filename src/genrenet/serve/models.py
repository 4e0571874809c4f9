"""The models a server holds: the genre classifier and the optional musicnn tagger, loaded once
per worker process (in a background thread, so that ``/healthz`` answers while they load)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from genrenet.classifier import Classifier
from genrenet.tagging import Tagger


@dataclass
class LoadedModels:
    """A loaded classifier, its name as given, and the tagger (None with ``--tagger none``)."""

    classifier: Classifier
    name: str
    tagger: Tagger | None = None
    tagger_name: str | None = None

    @classmethod
    def load(cls, model: str, tagger: str = "msd") -> LoadedModels:
        """Load a bundle (folder or bundled name) and the tagger; errors are genrenet's own
        (BundleError, MissingWeightsError, ...) with messages that say what is wrong."""
        classifier = Classifier.load(model)
        tagger_model = None if tagger == "none" else Tagger(tagger)
        return cls(classifier, model, tagger_model, None if tagger == "none" else tagger)

    def classifier_info(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about the classifier (from its config)."""
        clf = self.classifier
        cfg = clf.feature_config
        return {
            "name": self.name,
            "kind": "genres",
            "description": clf.describe(),
            "labels": list(clf.labels),
            "sample_rate": cfg.sample_rate,
            "window_seconds": clf.window_seconds,
            "features": cfg.kind,
            "architecture": clf.train_config.model,
            "training": {"config": clf.train_config.to_dict(), **training_record(clf.metadata)},
        }

    def tagger_info(self) -> dict[str, Any] | None:
        """What ``GET /v1/models`` says about the tagger, or None without one."""
        if self.tagger is None:
            return None
        tagger = self.tagger
        return {
            "name": tagger.model_name,
            "kind": "tags",
            "description": f"{tagger.model_name}: pretrained musicnn 0.1.0 weights, "
            f"{len(tagger.labels)} {self.tagger_name.upper()} tags",
            "labels": list(tagger.labels),
            "sample_rate": tagger.feature_config.sample_rate,
            "window_seconds": tagger.window_seconds,
            "features": tagger.feature_config.kind,
            "architecture": "musicnn",
            "training": {"source": "musicnn 0.1.0 (Pons and Serra, 2019)"},
        }


class ModelHolder:
    """Holds the models once loaded; ``load_in_background`` starts loading them on a thread."""

    def __init__(self, models: LoadedModels | None = None) -> None:
        self.models = models
        self.error: str | None = None
        self._done = threading.Event()
        if models is not None:
            self._done.set()

    @property
    def ready(self) -> bool:
        """True once the models are loaded."""
        return self.models is not None

    def load_in_background(self, model: str, tagger: str) -> threading.Thread:
        """Start loading; a failure is kept in :attr:`error` (``/readyz`` reports it)."""

        def run() -> None:
            try:
                self.models = LoadedModels.load(model, tagger)
            except Exception as err:  # noqa: BLE001 - reported by /readyz, the server stays up
                self.error = str(err) or type(err).__name__
            finally:
                self._done.set()

        thread = threading.Thread(target=run, name="genrenet-load-models", daemon=True)
        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (or failed); True when the models are ready."""
        self._done.wait(timeout)
        return self.ready


def training_record(metadata: dict[str, Any]) -> dict[str, Any]:
    """A model's training metadata for the API: the fingerprints of the tracks it was fitted on
    (thousands of lines for a large collection) become their count."""
    record = {k: v for k, v in metadata.items() if k not in ("fitted_on", "fitted_on_method")}
    if isinstance(metadata.get("fitted_on"), list):
        record["fitted_on_tracks"] = len(metadata["fitted_on"])
    return record
