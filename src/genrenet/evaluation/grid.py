"""Grid search: every combination of settings in a TOML file, each scored by k-fold CV.

Each cell has a stable id (a readable slug plus a short hash of its full settings), runs into
``OUT/cells/<id>/`` and is recorded in ``OUT/grid.json`` when it finishes; ``results.csv`` and
``results.md`` (sorted by mean track accuracy) are rewritten after every cell. A rerun skips the
finished cells, and the folds already finished inside an interrupted cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genrenet.data import Collection, open_collection
from genrenet.evaluation.crossval import FoldResult, cross_validate
from genrenet.files import atomic_write, write_json

if TYPE_CHECKING:
    from genrenet.classifier import Classifier

STATE_FILE = "grid.json"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
CELLS_DIR = "cells"
CLASSIFIER_PARAMS = ("model", "features", "crop_seconds", "model_kwargs")
"""Settings that are Classifier arguments rather than (only) TrainConfig fields."""
TOP_LEVEL_KEYS = ("folds", "seed", "grid", "fixed")
SCORE_COLUMNS = (
    "track_accuracy_mean",
    "track_accuracy_std",
    "track_macro_f1_mean",
    "track_macro_f1_std",
    "segment_accuracy_mean",
    "pooled_track_accuracy",
)
_SHORT = {
    "batch_size": "bs",
    "crop_seconds": "crop",
    "crops_per_track": "cpt",
    "weight_decay": "wd",
    "max_epochs": "ep",
    "label_smoothing": "ls",
    "model_kwargs": "",
}


def accepted_params() -> list[str]:
    """Parameter names a grid may set: Classifier arguments and every TrainConfig field."""
    from genrenet.training.config import TrainConfig

    names = list(CLASSIFIER_PARAMS)
    names += [f.name for f in fields(TrainConfig) if f.name not in names]
    return names


@dataclass(frozen=True)
class GridCell:
    """One combination: ``varied`` (its grid values) over ``params`` (all settings), and its id."""

    id: str
    params: dict[str, Any]
    varied: dict[str, Any]


@dataclass
class GridSpec:
    """A grid: lists of values per parameter, fixed settings, folds and the fold seed."""

    grid: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    folds: int = 5
    seed: int = 0
    source: str = "<grid>"

    def cells(self) -> list[GridCell]:
        """Every combination, in a stable order (sklearn's ParameterGrid)."""
        from sklearn.model_selection import ParameterGrid

        out = []
        for combo in ParameterGrid(self.grid) if self.grid else [{}]:
            varied = {k: combo[k] for k in sorted(combo)}
            params = {**self.fixed, **varied}
            out.append(GridCell(cell_id(varied, params, self.folds, self.seed), params, varied))
        return out

    def classifier(self, cell: GridCell) -> Classifier:
        """An untrained Classifier with the cell's settings (training seed: ``seed`` by default)."""
        from genrenet.classifier import Classifier

        options = dict(cell.params)
        options.setdefault("seed", self.seed)
        clf = Classifier(**options)
        clf.train_config  # noqa: B018 - resolves and checks the settings together, now
        return clf

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the grid (as in grid.json)."""
        return {"folds": self.folds, "seed": self.seed, "grid": self.grid, "fixed": self.fixed}


def cell_id(varied: dict[str, Any], params: dict[str, Any], folds: int, seed: int) -> str:
    """``<slug>-<hash>``: the slug names the grid values, the hash covers every setting."""
    digest = hashlib.sha1(
        json.dumps({"params": params, "folds": folds, "seed": seed}, sort_keys=True).encode()
    ).hexdigest()[:8]
    parts = []
    for key, value in varied.items():
        if isinstance(value, dict):
            text = "-".join(f"{k}{v}" for k, v in sorted(value.items()))
        elif isinstance(value, str):
            text = value
        else:
            text = f"{_SHORT.get(key, key.replace('_', ''))}{value}"
        parts.append(text)
    slug = re.sub(r"[^A-Za-z0-9.+-]+", "", "-".join(p for p in parts if p))[:48].strip("-.")
    return f"{slug}-{digest}" if slug else digest


def load_grid(path: str | Path) -> GridSpec:
    """Read and check a grid TOML file: ``folds``, ``seed``, ``[grid]`` lists and ``[fixed]``.

    Unknown parameters, values of the wrong type and impossible settings are ValueErrors that
    name the file; every cell is checked before anything is trained.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: grid file not found")
    try:
        data = _toml_loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    except ValueError as err:  # tomllib.TOMLDecodeError is a ValueError
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    extra = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if extra:
        raise ValueError(
            f"{path}: unknown top-level key(s) {extra}; expected {', '.join(TOP_LEVEL_KEYS)} "
            "(parameters go under [grid] or [fixed])"
        )
    grid = data.get("grid", {})
    fixed = data.get("fixed", {})
    for name, table in (("grid", grid), ("fixed", fixed)):
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{name}] must be a table of parameters")
    folds, seed = data.get("folds", 5), data.get("seed", 0)
    for name, value, low in (("folds", folds, 2), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{path}: {name} must be an integer >= {low}, got {value!r}")
    _check_names(path, [*grid, *fixed])
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ValueError(f"{path}: {both} set in both [grid] and [fixed]; keep one")
    values: dict[str, list[Any]] = {}
    for key, value in grid.items():
        value = value if isinstance(value, list) else [value]
        if not value:
            raise ValueError(f"{path}: grid.{key} is an empty list; give at least one value")
        values[key] = value
    spec = GridSpec(values, dict(fixed), folds, seed, str(path))
    for cell in spec.cells():
        _check_cell(path, spec, cell)
    return spec


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValueError("reading grid files needs Python 3.11+ or the tomli package") from None
    return tomllib.loads(text)


def _check_names(path: Path, names: list[str]) -> None:
    """Refuse names that are no Classifier argument or TrainConfig field."""
    accepted = accepted_params()
    if "augment" in names and "augment" not in accepted:
        raise ValueError(
            f"{path}: augment is not supported by this version of genrenet (its training "
            "settings have no augment option); remove it from the grid"
        )
    unknown = sorted(set(names) - set(accepted))
    if unknown:
        raise ValueError(
            f"{path}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )


def _check_types(path: Path, params: dict[str, Any]) -> None:
    """Refuse a value whose type differs from the setting's default, naming the setting."""
    from dataclasses import MISSING

    from genrenet.training.config import TrainConfig

    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    for key, value in params.items():
        default = defaults.get(key)
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int | float):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            ok, kind = (
                number and (isinstance(value, float) <= isinstance(default, float)),
                ("a number" if isinstance(default, float) else "an integer"),
            )
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        else:
            continue
        if not ok:
            raise ValueError(f"{path}: {key} must be {kind}, got {value!r}")


def _check_cell(path: Path, spec: GridSpec, cell: GridCell) -> None:
    """Build the cell's Classifier and check its architecture options, without training."""
    from genrenet.models.registry import arch_options

    where = f"{path}: cell {cell.varied or cell.params}"
    _check_types(path, cell.params)
    kwargs = cell.params.get("model_kwargs", {})
    if not isinstance(kwargs, dict):
        raise ValueError(f"{where}: model_kwargs must be a table, got {kwargs!r}")
    try:
        clf = spec.classifier(cell)
        allowed = arch_options(clf.train_config.model)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"{where}: model {clf.train_config.model!r} has no option(s) {unknown}; "
            f"its options are: {', '.join(allowed) or '(none)'}"
        )


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def run_grid(
    data: str | Path | Collection,
    spec: GridSpec,
    out_dir: str | Path,
    cache: Path | None = None,
    workers: int = 2,
    progress: bool = False,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> list[dict[str, Any]]:
    """Score every cell of ``spec`` by k-fold CV; rows sorted best first (mean track accuracy).

    Finished cells recorded in ``OUT/grid.json`` are not run again. ``on_cell(row)`` is called
    after each cell is recorded, ``on_fold`` after each fold (for progress).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    collection = data if isinstance(data, Collection) else open_collection(data)
    state_path = out / STATE_FILE
    state = _load_state(state_path)
    cells = spec.cells()
    finished = state["cells"]
    source = data.source if isinstance(data, Collection) else str(Path(data).resolve())
    for cell in cells:
        if cell.id in finished:
            continue
        result = cross_validate(
            spec.classifier(cell),
            collection,
            n_folds=spec.folds,
            out_dir=out / CELLS_DIR / cell.id,
            cache=cache,
            workers=workers,
            seed=spec.seed,
            progress=progress,
            on_fold=on_fold,
        )
        summary = result.summary
        row = {
            "id": cell.id,
            "params": cell.varied,
            **{k: summary[k] for k in SCORE_COLUMNS if k in summary},
            "pooled_track_accuracy": result.pooled["track"]["accuracy"],
            "pooled_tracks": result.pooled["track"]["n"],
            "pooled_track_accuracy_ci": result.pooled["track"]["intervals"]["accuracy"],
            "pooled_balanced_accuracy": result.pooled["track"]["balanced_accuracy"],
            "folds": spec.folds,
        }
        finished[cell.id] = row
        state.update(spec=spec.to_dict(), data=source)
        write_json(state_path, state)
        rows = _current_rows(cells, finished)
        write_results(rows, spec, out)
        if on_cell is not None:
            on_cell(row)
    rows = _current_rows(cells, finished)
    write_results(rows, spec, out)
    return rows


def _load_state(path: Path) -> dict[str, Any]:
    """grid.json, or a fresh state; a damaged file is a clear error, not a silent restart."""
    if not path.is_file():
        return {"cells": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{path}: cannot read the grid state ({err}); remove it to start over"
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("cells"), dict):
        raise ValueError(f"{path}: not a genrenet grid state file; remove it to start over")
    return state


def _current_rows(cells: list[GridCell], finished: dict[str, Any]) -> list[dict[str, Any]]:
    """Finished rows of this grid's cells, best first, ranked."""
    rows = [dict(finished[c.id]) for c in cells if c.id in finished]
    rows.sort(
        key=lambda r: (-r["track_accuracy_mean"], -r["track_macro_f1_mean"], r["id"]),
    )
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def write_results(rows: list[dict[str, Any]], spec: GridSpec, out_dir: Path) -> dict[str, Path]:
    """results.csv and results.md (atomic), one row per finished cell, best first."""
    keys = sorted(spec.grid)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "id", *keys, *SCORE_COLUMNS])
    for row in rows:
        params = [_cell_text(row["params"].get(k)) for k in keys]
        scores = [f"{row[c]:.6f}" for c in SCORE_COLUMNS]
        writer.writerow([row["rank"], row["id"], *params, *scores])
    fixed = ", ".join(f"{k}={_cell_text(v)}" for k, v in sorted(spec.fixed.items())) or "none"
    lines = [
        "# Grid search",
        "",
        f"{len(rows)} of {_n_cells(spec)} cells finished; each scored by {spec.folds}-fold "
        f"cross-validation (seed {spec.seed}). Fixed: {fixed}.",
        "",
        "| rank | " + " | ".join(keys) + " | track acc (mean ± std) | macro F1 (mean ± std) "
        "| segment acc | cell |",
        "|---:|" + "---|" * len(keys) + "---:|---:|---:|---|",
    ]
    for row in rows:
        cells = [str(row["rank"]), *[_cell_text(row["params"].get(k)) for k in keys]]
        cells += [
            f"{row['track_accuracy_mean']:.1%} ± {row['track_accuracy_std']:.1%}",
            f"{row['track_macro_f1_mean']:.3f} ± {row['track_macro_f1_std']:.3f}",
            f"{row['segment_accuracy_mean']:.1%}",
            f"`{row['id']}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return {
        "csv": atomic_write(out_dir / RESULTS_CSV, buffer.getvalue().encode("utf-8")),
        "markdown": atomic_write(out_dir / RESULTS_MD, ("\n".join(lines) + "\n").encode("utf-8")),
    }


def _n_cells(spec: GridSpec) -> int:
    n = 1
    for values in spec.grid.values():
        n *= len(values)
    return n


def _cell_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)
