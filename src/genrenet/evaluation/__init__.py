"""Judging a classifier honestly: metrics (:mod:`.metrics`), plots (:mod:`.plots`), one run
from split to held-out figures (:mod:`.experiment`), k-fold cross-validation (:mod:`.crossval`)
and grid search (:mod:`.grid`).

The package keeps the names of the former ``genrenet.evaluation`` module importable from here.
"""

from genrenet.evaluation.metrics import (
    MAX_TOP_K,
    SUMMARY_HEADER,
    EvaluationResult,
    aggregate_tracks,
    compute_metrics,
    evaluate,
    top_k_accuracies,
    track_labels,
)
from genrenet.evaluation.plots import (
    plot_confusion_matrix,
    plot_per_genre_accuracy,
    plot_top_k_accuracy,
    plot_training_curves,
    write_report,
)
from genrenet.training.history import best_epoch, load_history, merge_history

__all__ = [
    "MAX_TOP_K",
    "SUMMARY_HEADER",
    "EvaluationResult",
    "aggregate_tracks",
    "best_epoch",
    "compute_metrics",
    "evaluate",
    "load_history",
    "merge_history",
    "plot_confusion_matrix",
    "plot_per_genre_accuracy",
    "plot_top_k_accuracy",
    "plot_training_curves",
    "top_k_accuracies",
    "track_labels",
    "write_report",
]
