"""One training run end to end: collection -> features -> split -> fit -> held-out evaluation.

This is what ``genrenet train`` and ``Classifier.fit`` do; ``evaluate_on_collection`` is what
``genrenet evaluate`` and ``Classifier.evaluate`` do.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from torch import nn

from genrenet.augment import AugmentConfig
from genrenet.data import Collection, Skipped, open_collection
from genrenet.data.fingerprints import fitted_on_record
from genrenet.data.splits import Split, make_split
from genrenet.data.store import FeatureStore
from genrenet.evaluation.metrics import EvaluationResult, compute_metrics, evaluate
from genrenet.evaluation.plots import write_report
from genrenet.features import FeatureConfig
from genrenet.files import MODEL_DIR, SPLIT_FILE, write_json
from genrenet.patches import Normalizer, normalizer_for
from genrenet.training.config import TrainConfig

if TYPE_CHECKING:
    from genrenet.training.transfer import HeadFit


class Estimator(Protocol):
    """What a run needs of the estimator it trains (``genrenet.classifier.Classifier`` is one):
    its settings, a way to build a fresh network, and a way to take the trained one over."""

    feature_config: FeatureConfig
    train_config: TrainConfig
    labels: list[str]

    @property
    def patch_frames(self) -> int: ...

    def build_network(self, n_classes: int, loading: bool = False) -> nn.Module: ...

    def adopt(
        self,
        labels: Sequence[str],
        network: nn.Module,
        normalizer: Normalizer,
        history: list[dict[str, float]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any: ...

    def window_proba(
        self, feats: np.ndarray, hop_seconds: float | None = None, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def window_logits(
        self, feats: np.ndarray, hop_seconds: float | None = None, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def calibrate(self, record: dict[str, Any]) -> Any: ...

    @property
    def device(self) -> Any: ...

    def to(self, device: Any) -> Any: ...

    def save(self, directory: str | Path) -> Path: ...

    def clone(self, **changes: Any) -> Estimator: ...


@dataclass
class TrainOutcome:
    """What a training run produced: the split used, the held-out evaluation, the files written."""

    classifier: Estimator
    split: Split
    evaluation: EvaluationResult
    history: list[dict[str, float]]
    skipped: list[Skipped] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    test_proba: np.ndarray | None = None
    """Per test track (in ``split.test`` order), the mean of its window probabilities."""


@dataclass
class LoadedTracks:
    """Feature matrices (memory-mapped from the store) of the readable tracks of a collection."""

    collection: Collection
    matrices: list[np.ndarray]
    skipped: list[Skipped]
    store: FeatureStore | None = None
    workers: int = 2


def load_tracks(
    collection: Collection,
    store: FeatureStore,
    workers: int = 2,
    on_extract: Callable[[Path, str], None] | None = None,
) -> LoadedTracks:
    """Extract (or fetch from the cache) every track's features; unreadable tracks are dropped."""
    report = store.extract([t.path for t in collection.tracks], workers=workers, on_done=on_extract)
    failed = {s.path for s in report.failed}
    tracks = [t for t in collection.tracks if t.path not in failed]
    matrices = [store.load(t.path, mmap=True) for t in tracks]
    usable = collection.with_tracks(tracks)
    return LoadedTracks(usable, matrices, list(collection.skipped) + report.failed, store, workers)


def augmented_versions(
    loaded: LoadedTracks,
    train: list[int],
    augment: AugmentConfig,
    on_extract: Callable[[Path, str], None] | None = None,
) -> list[list[np.ndarray]] | None:
    """Waveform-augmented feature matrices of the training tracks (never valid/test ones).

    Variants are computed once and kept in the feature store, so cross-validation folds and
    later runs reuse them; a variant that fails for a track is left out for that track.
    """
    variants = augment.variants()
    if not variants:
        return None
    if loaded.store is None:
        raise ValueError("waveform augmentation needs the tracks' feature store")
    paths = [loaded.collection.tracks[i].path for i in train]
    loaded.store.extract_variants(paths, variants, workers=loaded.workers, on_done=on_extract)
    versions = []
    for path in paths:
        found = (loaded.store.get(path, variant=v, mmap=True) for v in variants)
        versions.append([m for m in found if m is not None])
    return versions


def _as_collection(data: str | Path | Collection) -> Collection:
    return data if isinstance(data, Collection) else open_collection(data)


def evaluate_matrices(
    classifier: Estimator, matrices: list[np.ndarray], labels: list[str], meta: dict | None = None
) -> EvaluationResult:
    """Windows of every track through the model; per-window and per-track (mean) figures."""
    return score_matrices(classifier, matrices, labels, meta)[0]


def score_matrices(
    classifier: Estimator, matrices: list[np.ndarray], labels: list[str], meta: dict | None = None
) -> tuple[EvaluationResult, np.ndarray]:
    """Like :func:`evaluate_matrices`, also returning each track's mean window probabilities."""
    index = {label: i for i, label in enumerate(classifier.labels)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(
            f"the model does not know the genres {unknown}; it knows {classifier.labels}"
        )
    probs, y, track_index = [], [], []
    for i, (m, label) in enumerate(zip(matrices, labels, strict=True)):
        p, _ = classifier.window_proba(m if isinstance(m, dict) else np.asarray(m))
        probs.append(p)
        y.extend([index[label]] * len(p))
        track_index.extend([i] * len(p))
    result = evaluate(
        np.concatenate(probs), np.array(y), classifier.labels, np.array(track_index), meta=meta
    )
    return result, np.stack([p.mean(axis=0) for p in probs])


def train_on_collection(
    classifier: Estimator,
    data: str | Path | Collection,
    out_dir: str | Path | None = None,
    split: str | Path | Split = "auto",
    cache: Path | None = None,
    workers: int = 2,
    resume: bool = False,
    progress: bool = True,
    on_extract: Callable[[Path, str], None] | None = None,
) -> TrainOutcome:
    """Train ``classifier`` on ``data`` and evaluate it on the held-out test tracks."""
    collection = _as_collection(data)
    store = FeatureStore(classifier.feature_config, cache)
    loaded = load_tracks(collection, store, workers, on_extract)
    if len(loaded.collection) < 2:
        raise ValueError(f"{collection.name}: fewer than two readable tracks, nothing to train on")
    chosen = (
        split
        if isinstance(split, Split)
        else make_split(loaded.collection, split, seed=classifier.train_config.seed)
    )
    source = data.source if isinstance(data, Collection) else str(Path(data).resolve())
    return train_on_split(
        classifier, loaded, chosen, out_dir, resume, progress, source, on_extract=on_extract
    )


def train_on_split(
    classifier: Estimator,
    loaded: LoadedTracks,
    chosen: Split,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    source: str | None = None,
    on_extract: Callable[[Path, str], None] | None = None,
) -> TrainOutcome:
    """Fit on ``chosen.train`` (early stopping on ``chosen.valid``), evaluate on ``chosen.test``.

    The building block of ``train`` and of cross-validation: tracks are loaded once, each fold
    is one call. With ``out_dir`` the bundle, split, metrics and plots are written there.
    """
    from genrenet.training.loop import TrainResult, fit_model

    usable = loaded.collection
    labels = usable.labels
    label_index = {label: i for i, label in enumerate(labels)}

    def part(indices: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
        return (
            [loaded.matrices[i] for i in indices],
            np.array([label_index[usable.tracks[i].label] for i in indices], dtype=np.int64),
        )

    run_dir = (
        Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="genrenet-run-"))
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    from genrenet.devices import training_device

    network = classifier.build_network(len(labels))
    augment = AugmentConfig.from_dict(classifier.train_config.augment)
    config = classifier.train_config
    device = training_device(config.accelerator, config.devices * config.num_nodes)
    head_fit = None
    if getattr(network, "fits_on_embeddings", False):
        head_fit = _fit_frozen_head(classifier, network, loaded, chosen, part, augment, device)
        network.eval()
        result = TrainResult(
            network,
            normalizer_for(network, [loaded.matrices[i] for i in chosen.train]),
            [],
            None,
            0,
            stopped_by="head_fit",
            device=str(device),
        )
    else:
        if getattr(network, "probes_before_fine_tuning", False):
            # Linear probe, then fine-tune (Kumar et al., ICLR 2022): the new head starts from
            # the logistic regression fitted on frozen embeddings, not from random weights.
            head_fit = _fit_frozen_head(
                classifier, network, loaded, chosen, part, AugmentConfig(), device
            )
        variants = augmented_versions(loaded, chosen.train, augment, on_extract)
        result = fit_model(
            network,
            part(chosen.train),
            part(chosen.valid),
            classifier.patch_frames,
            classifier.train_config,
            run_dir,
            resume=resume,
            progress=progress,
            n_classes=len(labels),
            train_variants=variants,
        )
    metadata = {
        "data": source or usable.name,
        "source_kind": usable.kind,
        "split": {
            "method": chosen.method,
            "notes": chosen.notes,
            "train": len(chosen.train),
            "valid": len(chosen.valid),
            "test": len(chosen.test),
        },
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_by": result.stopped_by,
        "augment": augment.describe(),
        "device": result.device,
        # training and validation (early stopping, temperature) tracks: evaluate warns on them
        **fitted_on_record(usable.tracks[i].path for i in [*chosen.train, *chosen.valid]),
    }
    if head_fit is not None:
        metadata["head_fit"] = {
            "head": head_fit.head,
            "chosen": head_fit.chosen,
            "candidates": head_fit.candidates,
        }
    own_device = classifier.device
    classifier.adopt(labels, result.model, result.normalizer, result.history, metadata)
    if result.device.startswith("cuda"):
        classifier.to(result.device)  # held-out windows are scored where the network trained
    if chosen.valid:
        valid_m, valid_y = part(chosen.valid)
        classifier.calibrate(fit_calibration(classifier, valid_m, valid_y, chosen.method))
    test_m, _ = part(chosen.test)
    evaluation, test_proba = score_matrices(
        classifier,
        test_m,
        [usable.tracks[i].label for i in chosen.test],
        meta={"split": chosen.method, "part": "test"},
    )
    # adopt() took a copy of ``metadata``: the bundle's record is the classifier's own dict
    classifier.metadata["test_track_accuracy"] = evaluation.track["accuracy"]
    classifier.to(own_device)
    outcome = TrainOutcome(
        classifier, chosen, evaluation, result.history, loaded.skipped, test_proba=test_proba
    )
    if out_dir is not None:
        outcome.files["model"] = classifier.save(run_dir / MODEL_DIR)
        split_file = write_json(run_dir / SPLIT_FILE, chosen.to_dict(usable))
        outcome.files["split"] = split_file
        outcome.files.update(write_report(evaluation, result.history, run_dir))
    return outcome


def fit_calibration(
    classifier: Estimator, matrices: list[np.ndarray], y: np.ndarray, split_method: str
) -> dict[str, Any]:
    """A temperature fitted on held-out (validation) tracks: their window logits, scored per
    track as prediction scores them (the mean of the windows' probabilities)."""
    from genrenet.evaluation.calibration import calibration_record

    logits, owner = [], []
    for i, m in enumerate(matrices):
        z, _ = classifier.window_logits(np.asarray(m))
        logits.append(z)
        owner.append(np.full(len(z), i))
    return calibration_record(
        np.concatenate(logits),
        np.concatenate(owner),
        np.asarray(y),
        fitted_on=f"{len(matrices)} validation tracks ({split_method} split)",
    )


def _fit_frozen_head(
    classifier: Estimator,
    network: nn.Module,
    loaded: LoadedTracks,
    chosen: Split,
    part: Callable[[list[int]], tuple[list[np.ndarray], np.ndarray]],
    augment: AugmentConfig,
    device: Any = "cpu",
) -> HeadFit:
    """Fit a frozen musicnn model's head with scikit-learn on cached window embeddings (the
    backbone embedding the windows on ``device``)."""
    from genrenet.pretrained.embeddings import EmbeddingStore
    from genrenet.training.transfer import fit_head

    if augment.variants():
        raise ValueError(
            "waveform augmentation is not used by heads fitted on frozen embeddings; "
            "leave --augment out or fine-tune (--freeze frontend|none, --head dense)"
        )
    tracks = loaded.collection.tracks
    root = loaded.store.root if loaded.store is not None else None
    store = EmbeddingStore(network.tagger, root, device=device)

    def paths_and_labels(indices: list[int]):
        return [tracks[i].path for i in indices], part(indices)[1]

    return fit_head(
        network,
        store,
        paths_and_labels(chosen.train),
        paths_and_labels(chosen.valid),
        len(loaded.collection.labels),
        seed=classifier.train_config.seed,
        class_weight="balanced" if classifier.train_config.class_weights else None,
    )


def evaluate_on_collection(
    classifier: Estimator,
    data: str | Path | Collection,
    cache: Path | None = None,
    workers: int = 2,
    progress: bool = False,
    on_extract: Callable[[Path, str], None] | None = None,
    seen: set[Path] | None = None,
) -> tuple[EvaluationResult, list[Skipped]]:
    """Figures of a trained classifier on every readable track of a labelled collection. Given
    ``seen`` (tracks the model was fitted on), ``meta`` also gets their count
    (``seen_in_fitting``) and, when some tracks are not among them, the track figures on those
    alone (``not_seen``), from the same scores."""
    collection = _as_collection(data)
    loaded = load_model_tracks(classifier, collection, cache, workers, on_extract)
    if not loaded.collection.tracks:
        raise ValueError(f"{collection.name}: no readable audio tracks found")
    labels = [t.label for t in loaded.collection.tracks]
    result, track_proba = score_matrices(
        classifier, loaded.matrices, labels, meta={"data": collection.source}
    )
    if seen is not None:
        fresh = np.array([t.path not in seen for t in loaded.collection.tracks])
        result.meta["seen_in_fitting"] = int((~fresh).sum())
        if fresh.any() and not fresh.all():
            index = {label: i for i, label in enumerate(classifier.labels)}
            y = np.array([index[label] for label in labels])
            held = compute_metrics(y[fresh], track_proba[fresh], classifier.labels, intervals=True)
            result.meta["not_seen"] = held
    return result, loaded.skipped


def load_model_tracks(
    classifier: Any,
    collection: Collection,
    cache: Path | None = None,
    workers: int = 2,
    on_extract: Callable[[Path, str], None] | None = None,
) -> LoadedTracks:
    """Features of every readable track for a model; a model with several front ends (an
    ensemble) gets, per track, one matrix per front end (each cached in its own store)."""
    from genrenet.inference.ensemble import MemberFeatures, feature_key

    configs = getattr(classifier, "feature_configs", [classifier.feature_config])
    if len(configs) == 1 and not hasattr(classifier, "members"):
        return load_tracks(collection, FeatureStore(configs[0], cache), workers, on_extract)
    loaded = [load_tracks(collection, FeatureStore(c, cache), workers, on_extract) for c in configs]
    usable = set.intersection(*({t.path for t in part.collection.tracks} for part in loaded))
    tracks = [t for t in collection.tracks if t.path in usable]
    per_config = [
        {t.path: m for t, m in zip(part.collection.tracks, part.matrices, strict=True)}
        for part in loaded
    ]
    matrices = [
        MemberFeatures(
            {feature_key(c): found[t.path] for c, found in zip(configs, per_config, strict=True)}
        )
        for t in tracks
    ]
    skipped = {s.path: s for part in loaded for s in part.skipped}
    return LoadedTracks(
        collection.with_tracks(tracks),
        matrices,
        list(skipped.values()),
        None,
        workers,
    )
