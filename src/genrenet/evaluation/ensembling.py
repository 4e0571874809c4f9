"""Fitting an ensemble on held-out tracks: member weights that minimise the validation NLL,
then a temperature on the mixture, both recorded in the ensemble's ``config.json``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genrenet.data import Collection
from genrenet.data.fingerprints import fitted_on_record
from genrenet.evaluation.calibration import (
    calibration_record,
    expected_calibration_error,
    fit_mixture_weights,
)
from genrenet.evaluation.experiment import load_model_tracks
from genrenet.inference.ensemble import Ensemble

PARTS = ("valid", "train", "test", "all")


def held_out_tracks(collection: Collection, part: str) -> Collection:
    """The tracks the source marks as ``part`` (``"all"``: every track); a ValueError when the
    source marks none, so that weights are never fitted on tracks the members trained on by
    accident."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if part == "all":
        return collection
    tracks = [t for t in collection.tracks if t.split == part]
    if not tracks:
        raise ValueError(
            f"{collection.name}: no tracks marked {part!r} (a CSV manifest's split column, FMA's "
            "or GTZAN's filtered split); give such a collection, or --part all for one whose "
            "tracks none of the members saw"
        )
    return collection.with_tracks(tracks)


def fit_ensemble(
    ensemble: Ensemble,
    collection: Collection,
    part: str = "valid",
    cache: Path | None = None,
    workers: int = 2,
    on_extract: Callable[[Path, str], None] | None = None,
) -> dict[str, Any]:
    """Fit ``ensemble``'s weights and temperature on the ``part`` tracks of ``collection``
    (in place); returns the record also kept in ``ensemble.metadata["weights_fit"]``."""
    held = held_out_tracks(collection, part)
    loaded = load_model_tracks(ensemble, held, cache, workers, on_extract)
    index = {label: i for i, label in enumerate(ensemble.labels)}
    tracks = loaded.collection.tracks
    unknown = sorted({t.label for t in tracks} - set(index))
    if unknown:
        raise ValueError(f"the models do not know the genres {unknown}")
    y = np.array([index[t.label] for t in tracks])
    per_member: list[list[np.ndarray]] = [[] for _ in ensemble.members]
    for m in loaded.matrices:
        probs, _ = ensemble.member_window_proba(m)
        for k, p in enumerate(probs):
            per_member[k].append(p)
    track_means = [np.stack([p.mean(axis=0) for p in rows]) for rows in per_member]
    weights = fit_mixture_weights(track_means, y)
    ensemble.weights = weights
    ensemble.temperature, ensemble.calibration = 1.0, None
    mixed = [
        ensemble.mix([per_member[k][t] for k in range(len(ensemble.members))])
        for t in range(len(tracks))
    ]
    owner = np.concatenate([np.full(len(w), t) for t, w in enumerate(mixed)])
    log_mixed = np.log(np.clip(np.concatenate(mixed), 1e-12, 1.0))
    where = f"{len(tracks)} {part} tracks of {collection.name}"
    ensemble.calibrate(calibration_record(log_mixed, owner, y, fitted_on=where))
    record = {
        "method": "fit",
        "fitted_on": where,
        "objective": "track-level NLL of the weighted mean of calibrated probabilities",
        "weights": weights.tolist(),
        "member_ece": [float(expected_calibration_error(p, y)) for p in track_means],
    }
    ensemble.metadata["weights_fit"] = record
    # the ensemble has now been fitted on these tracks too: evaluate warns on them
    ensemble.metadata.update(fitted_on_record(t.path for t in tracks))
    return record
