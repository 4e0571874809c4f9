"""Intervals, expected calibration error and temperature scaling on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from genrenet.evaluation.calibration import (
    bootstrap_interval,
    calibration_record,
    expected_calibration_error,
    fit_mixture_weights,
    fit_temperature,
    macro_recall,
    reliability_bins,
    softmax,
    wilson_interval,
)
from genrenet.evaluation.metrics import compute_metrics, evaluate


def test_wilson_interval_matches_the_textbook_values() -> None:
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(1 - 0.2775, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_bootstrap_interval_of_a_mean_is_close_to_the_normal_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, 400)
    low, high = bootstrap_interval(lambda idx: float(x[idx].mean()), len(x), n_boot=2000)
    half = 1.96 * x.std() / np.sqrt(len(x))
    assert low == pytest.approx(x.mean() - half, abs=0.05)
    assert high == pytest.approx(x.mean() + half, abs=0.05)


def test_macro_recall_averages_the_genres_present() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    assert macro_recall(y, pred, 4) == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_track_metrics_carry_intervals_and_ece() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    proba = np.full((60, 3), 0.1)
    proba[np.arange(60), y] = 0.8  # always right, 80% sure: ECE 0.2
    proba[:12] = proba[:12, [1, 2, 0]]  # 12 wrong
    metrics = compute_metrics(y, proba, ["a", "b", "c"], intervals=True)
    assert metrics["accuracy"] == pytest.approx(48 / 60)
    assert metrics["intervals"]["accuracy"] == pytest.approx(list(wilson_interval(48, 60)))
    low, high = metrics["intervals"]["balanced_accuracy"]
    assert low < metrics["balanced_accuracy"] < high
    assert metrics["ece"] == pytest.approx(0.0, abs=1e-9)  # 80% sure, 80% right
    result = evaluate(proba, y, ["a", "b", "c"], track_index=np.arange(60))
    rows = dict((r[0], r[2]) for r in result.summary_rows())
    assert "[" in rows["accuracy"] and rows["ECE (15 bins)"] == "0.000"


def test_ece_of_perfectly_and_badly_calibrated_scores() -> None:
    y = np.zeros(100, dtype=int)
    proba = np.tile([0.9, 0.1], (100, 1))
    y[:10] = 1  # 90% sure, 90% right
    assert expected_calibration_error(proba, y) == pytest.approx(0.0, abs=1e-12)
    y[:50] = 1  # 90% sure, 50% right
    assert expected_calibration_error(proba, y) == pytest.approx(0.4)
    bins = reliability_bins(proba, y)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 100


def test_temperature_reduces_the_ece_of_over_confident_scores() -> None:
    """Logits whose true class wins about 70% of the time, scaled up tenfold: far too sure."""
    rng = np.random.default_rng(0)
    n_tracks, windows, n_classes = 300, 1, 5
    y = rng.integers(0, n_classes, n_tracks)
    owner = np.repeat(np.arange(n_tracks), windows)
    logits = rng.normal(0, 1, (n_tracks * windows, n_classes))
    logits[np.arange(len(owner)), y[owner]] += 1.2
    logits *= 10
    record = calibration_record(logits, owner, y, fitted_on="synthetic")
    assert record["temperature"] > 2
    assert record["ece_before"] > 0.15
    assert record["ece_after"] < record["ece_before"] / 3
    assert record["nll_after"] < record["nll_before"]
    # the ranking of classes never changes
    assert np.array_equal(softmax(logits).argmax(1), softmax(logits, 7.0).argmax(1))


def test_temperature_of_well_calibrated_logits_stays_near_one() -> None:
    rng = np.random.default_rng(3)
    n, c = 4000, 4
    logits = rng.normal(0, 2, (n, c))
    y = np.array([rng.choice(c, p=p) for p in softmax(logits)])
    assert fit_temperature(logits, np.arange(n), y) == pytest.approx(1.0, abs=0.1)


def test_mixture_weights_favour_the_better_member() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    good = np.full((200, 3), 0.1)
    good[np.arange(200), y] = 0.8
    noise = softmax(rng.normal(0, 1, (200, 3)))
    weights = fit_mixture_weights([noise, good], y)
    assert weights.sum() == pytest.approx(1.0) and weights[1] > 0.9
