"""Training history: the per-epoch rows Lightning logs, merged into one row per epoch, and
the epoch early stopping kept."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HISTORY_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


def _to_float(value: Any) -> float:
    """A number from a history cell; blanks and junk become NaN."""
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def merge_history(history: Iterable[Mapping[str, Any]]) -> list[dict[str, float]]:
    """One row per epoch with train/val loss/acc, merging Lightning's separate train and val rows.

    Accepts ``train_loss`` or ``train_loss_epoch`` (likewise for the other keys); for each epoch
    the last finite value of each key wins. Rows without an epoch are skipped.
    """
    merged: dict[int, dict[str, float]] = {}
    for row in history:
        epoch = _to_float(row.get("epoch"))
        if not math.isfinite(epoch):
            continue
        out = merged.setdefault(int(epoch), {k: math.nan for k in HISTORY_KEYS})
        for key in HISTORY_KEYS:
            for name in (key, f"{key}_epoch"):
                value = _to_float(row.get(name))
                if math.isfinite(value):
                    out[key] = value
    return [{"epoch": float(e), **merged[e]} for e in sorted(merged)]


def load_history(path: str | Path) -> list[dict[str, Any]]:
    """Read a training history: a Lightning ``metrics.csv`` or a JSON list of row dicts."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training history not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: expected a JSON list of objects, one per logged row")
        return rows
    rows = list(csv.DictReader(text.splitlines()))
    if rows and "epoch" not in rows[0]:
        raise ValueError(f"{path}: CSV has no 'epoch' column")
    return rows


def best_epoch(merged: Sequence[Mapping[str, float]]) -> int | None:
    """The epoch with the lowest val loss (or, lacking it, the highest val accuracy)."""
    for key, pick in (("val_loss", np.nanargmin), ("val_acc", np.nanargmax)):
        values = np.array([row[key] for row in merged], dtype=np.float64)
        if np.any(np.isfinite(values)):
            return int(merged[int(pick(values))]["epoch"])
    return None


# --------------------------------------------------------------------------------------------
