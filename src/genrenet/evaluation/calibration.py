"""Honest figures about scores: 95% intervals over tracks, expected calibration error, the
reliability diagram's bins, and a softmax temperature fitted on held-out tracks.

Intervals: Wilson's score interval for a proportion (accuracy, one genre's recall, top-3), the
percentile bootstrap over tracks for figures that are not a single proportion (macro-recall).
Calibration: Guo et al., "On calibration of modern neural networks" (ICML 2017): ECE with 15
equal-width confidence bins, and temperature scaling, one scalar dividing the logits, which
changes confidences but never the ranking of genres.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Z_95 = 1.959963984540054
N_BINS = 15
N_BOOTSTRAP = 1000
#: Temperatures searched (log-uniform bounds): confident networks need T > 1, timid heads T < 1.
T_BOUNDS = (0.05, 20.0)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``successes / n`` (``(0, 1)`` when ``n`` is 0)."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def macro_recall(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean over the genres present in ``y_true`` of their recall (balanced accuracy)."""
    support = np.bincount(y_true, minlength=n_classes)
    hits = np.bincount(y_true[y_pred == y_true], minlength=n_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` items (tracks),
    resampled with replacement ``n_boot`` times with a fixed seed (reproducible figures)."""
    if n <= 0:
        raise ValueError("cannot bootstrap over no items")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def macro_recall_interval(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap-over-tracks 95% interval of macro-recall."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return bootstrap_interval(
        lambda idx: macro_recall(y_true[idx], y_pred[idx], n_classes), len(y_true), n_boot, seed
    )


def reliability_bins(
    proba: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS
) -> list[dict[str, float]]:
    """Equal-width bins of the top score: per bin its range, count, mean confidence, accuracy."""
    proba = np.asarray(proba, dtype=np.float64)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        inside = which == b
        count = int(inside.sum())
        bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "confidence": float(conf[inside].mean()) if count else 0.0,
                "accuracy": float(correct[inside].mean()) if count else 0.0,
            }
        )
    return bins


def expected_calibration_error(
    proba: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS
) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over ``n_bins`` bins."""
    bins = reliability_bins(proba, y_true, n_bins)
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / n)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64, stable)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def track_nll(
    window_logits: np.ndarray, track_index: np.ndarray, y_track: np.ndarray, temperature: float
) -> float:
    """Mean negative log-likelihood of each track's label under the mean of its windows'
    ``softmax(logits / temperature)`` (how a track's score is made at prediction)."""
    proba = softmax(window_logits, temperature)
    n_tracks = len(y_track)
    sums = np.zeros((n_tracks, proba.shape[1]))
    np.add.at(sums, track_index, proba)
    track = sums / np.bincount(track_index, minlength=n_tracks)[:, None]
    return float(-np.mean(np.log(np.clip(track[np.arange(n_tracks), y_track], 1e-12, 1.0))))


def fit_temperature(
    window_logits: np.ndarray,
    track_index: np.ndarray,
    y_track: Sequence[int] | np.ndarray,
    bounds: tuple[float, float] = T_BOUNDS,
) -> float:
    """The temperature that minimises the track-level NLL of held-out tracks (bounded search
    over log T). ``track_index`` says which track each window row belongs to."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(window_logits, dtype=np.float64)
    index = np.asarray(track_index, dtype=np.int64)
    y = np.asarray(y_track, dtype=np.int64)
    if len(logits) != len(index) or len(y) == 0:
        raise ValueError("need one track index per window row and at least one track")
    found = minimize_scalar(
        lambda log_t: track_nll(logits, index, y, math.exp(log_t)),
        bounds=(math.log(bounds[0]), math.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(math.exp(found.x))


def calibration_record(
    window_logits: np.ndarray,
    track_index: np.ndarray,
    y_track: np.ndarray,
    fitted_on: str,
) -> dict[str, object]:
    """Fit a temperature and describe the fit (what a bundle's ``calibration`` holds): the
    temperature, the tracks it was fitted on, and track-level NLL / ECE before and after."""
    y = np.asarray(y_track, dtype=np.int64)
    index = np.asarray(track_index, dtype=np.int64)
    temperature = fit_temperature(window_logits, index, y)

    def track_proba(t: float) -> np.ndarray:
        proba = softmax(window_logits, t)
        sums = np.zeros((len(y), proba.shape[1]))
        np.add.at(sums, index, proba)
        return sums / np.bincount(index, minlength=len(y))[:, None]

    return {
        "method": "temperature",
        "temperature": temperature,
        "fitted_on": fitted_on,
        "n_tracks": int(len(y)),
        "nll_before": track_nll(window_logits, index, y, 1.0),
        "nll_after": track_nll(window_logits, index, y, temperature),
        "ece_before": expected_calibration_error(track_proba(1.0), y),
        "ece_after": expected_calibration_error(track_proba(temperature), y),
    }


def fit_mixture_weights(member_proba: Sequence[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the NLL of ``sum_k w_k P_k`` on held-out
    tracks (``P_k``: member k's ``[n_tracks, n_labels]`` probabilities), by L-BFGS over the
    softmax of free parameters."""
    from scipy.optimize import minimize

    stacked = np.stack([np.asarray(p, np.float64) for p in member_proba])  # [K, n, C]
    y = np.asarray(y, dtype=np.int64)
    if stacked.ndim != 3 or stacked.shape[1] != len(y) or len(y) == 0:
        raise ValueError("need one [n_tracks, n_labels] matrix per member and one label per track")
    true_p = stacked[:, np.arange(len(y)), y]  # [K, n]

    def nll(theta: np.ndarray) -> float:
        w = softmax(theta)
        return float(-np.mean(np.log(np.clip(w @ true_p, 1e-12, 1.0))))

    found = minimize(nll, np.zeros(len(stacked)), method="L-BFGS-B")
    return softmax(found.x)
