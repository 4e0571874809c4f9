"""Decide what a report shows (results, curves, metrics, settings, data) before drawing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genrenet.report.readers import (
    _FOLD_KEYS,
    _PARTS,
    CrossValFolder,
    GridFolder,
    RunFolder,
    _first,
    _index_of,
    _number,
    detect_kind,
    read_crossval,
    read_grid,
    read_run,
)
from genrenet.report.tables import (
    Table,
    _cv_table,
    _grid_table,
    _leaky_table,
    _metric_table,
    _shown_settings,
    format_value,
)


@dataclass
class ReportPlan:
    """What the report will show, decided from the folder before anything is drawn."""

    kind: str
    folder: Path
    title: str
    results: list[Table | str] = field(default_factory=list)
    curves: list[tuple[str, RunFolder]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    metrics_source: str = ""
    metrics_level: str = ""
    model_run: RunFolder | None = None
    model_source: str = ""
    settings: list[tuple[str, str]] = field(default_factory=list)
    data_hint: str | None = None
    cautions: list[str] = field(default_factory=list)
    """What a reader must know before the figures (a run cut short by its time limit)."""


def _fold_name(cv: CrossValFolder, i: int) -> str:
    """``fold K`` for position ``i`` (K as cv.json or the folder name numbers it)."""
    fold = _first(cv.rows[i], _FOLD_KEYS)
    if fold is None and cv.runs[i] is not None:
        fold = _index_of(cv.runs[i].folder.name)
    return f"fold {fold if fold is not None else i + 1}"


def _plan_crossval(cv: CrossValFolder, plan: ReportPlan) -> None:
    """Results, curves (best and worst fold) and pooled metrics of a cross-validation folder."""
    plan.results.append(_cv_table(cv))
    ranked = cv.ranked()
    if ranked:
        best, worst = ranked[0], ranked[-1]
        text = f"Best fold: {_fold_name(cv, best)} ({cv.accuracy(best):.1%} track accuracy)"
        if worst != best:
            text += f"; worst fold: {_fold_name(cv, worst)} ({cv.accuracy(worst):.1%})"
        plan.results.append(text + ".")
        for label, i in (("best", best), ("worst", worst)):
            run = cv.runs[i]
            if run is not None and (label == "best" or worst != best):
                plan.curves.append((f"{label} fold: {_fold_name(cv, i)}", run))
        plan.model_run = cv.runs[best] or cv.first_run()
        if plan.model_run is not None:
            plan.model_source = f"the model of the best fold ({plan.model_run.folder.name})"
    else:
        plan.model_run = cv.first_run()
    if cv.pooled is not None:
        plan.metrics = cv.pooled
        plan.metrics_source = (
            f"the test tracks of all {len(cv.rows)} folds, pooled ({cv.pooled.get('n')} tracks)"
        )
        plan.metrics_level = f"per track, {len(cv.rows)} folds pooled"
        plan.results.append(_metric_table(cv.pooled, "pooled over folds"))
    if cv.leaky:
        plan.results.append(_leaky_table(cv.leaky))
    if cv.status not in (None, "complete"):
        plan.results.insert(
            0, f"This cross-validation is {cv.status}: {len(cv.rows)} fold(s) so far."
        )
    plan.settings += [(f"cross-validation: {k}", v) for k, v in _shown_settings(cv.settings)]
    plan.settings += [("cross-validation note", str(note)) for note in cv.notes]
    if isinstance(cv.settings.get("data"), str):
        plan.data_hint = cv.settings["data"]


def _plan_grid(grid: GridFolder, plan: ReportPlan) -> None:
    """All cells' results, the best and worst cell's first fold, the best cell's pooled metrics."""
    table = _grid_table(grid)
    ranked = grid.ranked()
    if ranked:
        table.marks[ranked[0]] = "best"
        if len(ranked) > 1:
            table.marks[ranked[-1]] = "worst"
    table.caption = "One row per grid cell; mean and std are over the cell's folds."
    plan.results.append(table)
    if not ranked:
        plan.results.append("No cell has a mean accuracy yet: best and worst cannot be chosen.")
        return
    best, worst = ranked[0], ranked[-1]

    def name(i: int) -> str:
        return str(grid.rows[i][grid.id_key]) if grid.id_key else f"row {i + 1}"

    def acc(i: int) -> str:
        return format_value("accuracy", _number(grid.rows[i], (grid.acc_key,)))

    text = f"Best cell: {name(best)} ({acc(best)} mean accuracy)"
    if worst != best:
        text += f"; worst cell: {name(worst)} ({acc(worst)})"
    plan.results.append(text + ".")
    best_cv = None
    for label, i in (("best", best), ("worst", worst)):
        if label == "worst" and worst == best:
            break
        cell = grid.cell_dir(i)
        if cell is None:
            plan.results.append(f"The folder of cell {name(i)} is missing under cells/.")
            continue
        cv = read_crossval(cell)
        run = cv.first_run()
        if label == "best":
            best_cv = cv
        if run is not None:
            plan.curves.append((f"{label} cell {name(i)}, first fold ({run.folder.name})", run))
    if best_cv is not None:
        plan.model_run = best_cv.first_run()
        if plan.model_run is not None:
            fold = plan.model_run.folder.name
            plan.model_source = f"the model of the best cell {name(best)}, first fold ({fold})"
        if best_cv.pooled is not None:
            plan.metrics = best_cv.pooled
            plan.metrics_source = (
                f"the test tracks of the best cell {name(best)}'s {len(best_cv.rows)} folds, "
                f"pooled ({best_cv.pooled.get('n')} tracks)"
            )
            plan.metrics_level = f"best cell, {len(best_cv.rows)} folds pooled"
            plan.results.append(_metric_table(best_cv.pooled, f"best cell {name(best)}, pooled"))
        plan.results.append(f"Per fold of the best cell {name(best)}:")
        plan.results.append(_cv_table(best_cv))
        for key, value in best_cv.settings.items():
            if key == "data" and isinstance(value, str):
                plan.data_hint = value
    spec = grid.state.get("spec") if isinstance(grid.state.get("spec"), dict) else {}
    plan.settings += [(f"grid: {k}", v) for k, v in _shown_settings(spec)]
    for part, title in (("grid", "grid values"), ("fixed", "fixed in the grid")):
        table = spec.get(part)
        if isinstance(table, dict):
            plan.settings += [(f"{title}: {k}", format_value(k, v)) for k, v in table.items()]
    if isinstance(grid.state.get("data"), str):
        plan.data_hint = plan.data_hint or grid.state["data"]


def _part_size(split: Mapping[str, Any], recorded: Mapping[str, Any], part: str) -> Any:
    """Tracks in one part of a split: counted from split.json, else as the model recorded."""
    ids = split.get(part)
    return len(ids) if isinstance(ids, list) else recorded.get(part, "?")


def _run_settings(run: RunFolder) -> list[tuple[str, str]]:
    """Model, features, training and split settings recorded in a run's config and split."""
    out: list[tuple[str, str]] = []
    config = run.config or {}
    arch = config.get("architecture") or {}
    if arch:
        kwargs = arch.get("kwargs") or {}
        extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        out.append(("model", f"{arch.get('name', '?')}" + (f" ({extra})" if extra else "")))
    feats = config.get("features") or {}
    if feats:
        kind = feats.get("kind", "?")
        rows = feats.get("n_mfcc") if kind == "mfcc" else feats.get("n_mels")
        text = (
            f"{kind}, {rows} {'coefficients' if kind == 'mfcc' else 'mel bands'}, "
            f"{feats.get('sample_rate')} Hz, n_fft {feats.get('n_fft')}, "
            f"hop {feats.get('hop_length')}"
        )
        if config.get("patch_seconds") is not None:
            text += f"; patches of {config['patch_seconds']:g} s"
        out.append(("features", text))
    training = config.get("training") or {}
    train_cfg = training.get("config") or {}
    if train_cfg:
        keys = (
            "max_epochs",
            "batch_size",
            "lr",
            "optimizer",
            "crops_per_track",
            "patience",
            "seed",
        )
        shown = ", ".join(f"{k} {train_cfg[k]}" for k in keys if k in train_cfg)
        out.append(("training", shown))
    if training.get("epochs_run") is not None:
        out.append(
            (
                "epochs",
                f"{training['epochs_run']} run; best (lowest validation loss): epoch "
                f"{training.get('best_epoch')}",
            )
        )
    if training.get("data"):
        kind = training.get("source_kind")
        out.append(("data (as recorded)", f"{training['data']}" + (f" ({kind})" if kind else "")))
    split = run.split or {}
    recorded = training.get("split") or {}
    method = split.get("method") or recorded.get("method")
    if method:
        sizes = ", ".join(f"{part} {_part_size(split, recorded, part)}" for part in _PARTS)
        out.append(("split", f"{method} ({sizes} tracks)"))
    notes = split.get("notes") or recorded.get("notes") or []
    for note in notes:
        out.append(("split note", str(note)))
    return out


def plan_report(path: str | Path) -> ReportPlan:
    """Decide what to show for ``path``: a run, a cross-validation or a grid folder."""
    folder = Path(path)
    kind = detect_kind(folder)
    name = folder.resolve().name
    runs: list[tuple[str, RunFolder]] = []
    if kind == "run":
        run = read_run(folder)
        plan = ReportPlan(kind, folder, f"Training run: {name}")
        if run.metrics is not None:
            rows = [list(r) for r in run.metrics.summary_rows()]
            plan.results.append(Table(["metric", "per segment", "per track"], rows))
            plan.metrics = run.metrics.headline
            n = plan.metrics.get("n")
            if run.metrics.track is not None:
                plan.metrics_level = "per track"
                plan.metrics_source = f"the run's {n} held-out test tracks"
            else:
                plan.metrics_level = "per segment"
                plan.metrics_source = f"the run's {n} held-out test windows (no per-track figures)"
        plan.curves.append(("this run", run))
        plan.model_run = run
        plan.model_source = "the run's model"
    elif kind == "cv":
        plan = ReportPlan(kind, folder, f"Cross-validation: {name}")
        cv = read_crossval(folder)
        _plan_crossval(cv, plan)
        runs = [(_fold_name(cv, i), r) for i, r in enumerate(cv.runs) if r is not None]
    else:
        plan = ReportPlan(kind, folder, f"Grid search: {name}")
        _plan_grid(read_grid(folder), plan)
    if plan.model_run is not None:
        plan.settings = _run_settings(plan.model_run) + plan.settings
    plan.cautions = _cut_short_notes(runs or plan.curves)
    return plan


def _cut_short_notes(runs: list[tuple[str, RunFolder]]) -> list[str]:
    """One sentence per run whose training the time limit (``--max-minutes``) cut short."""
    notes = []
    for label, run in runs:
        training = (run.config or {}).get("training") or {}
        if training.get("stopped_by") != "max_minutes":
            continue
        cfg = training.get("config") or {}
        notes.append(
            f"Training of {label} was CUT SHORT by its time limit (--max-minutes "
            f"{cfg.get('max_minutes', '?')}) after {training.get('epochs_run', '?')} of at most "
            f"{cfg.get('max_epochs', '?')} epochs, before early stopping: its figures depend on "
            "how fast the machine was and understate what the model can reach."
        )
    return notes


def resolve_data(
    plan: ReportPlan, folder: Path, data: str | Path | None
) -> tuple[Path | None, str]:
    """The collection to read (``data`` wins over what the model recorded) and a note on it."""
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such data collection (given with --data)")
        return path, f"data collection given: {path.resolve()}"
    recorded = [plan.data_hint] if plan.data_hint else []
    if plan.model_run is not None and plan.model_run.config:
        recorded.append((plan.model_run.config.get("training") or {}).get("data"))
    recorded = [str(r) for r in recorded if r]
    if not recorded:
        return None, "no data collection is recorded with the results; pass --data to add it"
    for name in recorded:
        raw = Path(name).expanduser()
        places = [raw] if raw.is_absolute() else [raw, folder / raw, folder.parent / raw]
        for place in places:
            if place.exists():
                return place, f"data collection recorded with the results: {place.resolve()}"
    return None, (
        f"the data collection recorded with the results "
        f"({' or '.join(dict.fromkeys(recorded))}) "
        "was not found; pass --data to point at it"
    )
