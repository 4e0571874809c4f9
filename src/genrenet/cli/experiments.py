"""Commands that train and score models: ``train``, ``cv``, ``grid``, ``evaluate``, ``report``
and ``models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrenet.cli.common import (
    DEFAULT_ACCELERATOR,
    DEFAULT_AUGMENT,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CROP_SECONDS,
    DEFAULT_CROPS_PER_TRACK,
    DEFAULT_DEVICES,
    DEFAULT_EPOCHS,
    DEFAULT_MODEL,
    DEFAULT_NUM_NODES,
    DEFAULT_OPTIMIZER,
    DEFAULT_PATIENCE,
    DEFAULT_SEED,
    DEFAULT_STRATEGY,
    DEFAULT_WEIGHT_DECAY,
    DEFAULT_WORKERS,
    AcceleratorOpt,
    AugmentOpt,
    BatchOpt,
    CacheOpt,
    CropOpt,
    CropsOpt,
    DataArg,
    DecayOpt,
    DevicesOpt,
    EpochsOpt,
    ExtractWorkersOpt,
    FeaturesOpt,
    FreezeOpt,
    HeadOpt,
    LrOpt,
    MinutesOpt,
    ModelArgOpt,
    ModelOpt,
    NumNodesOpt,
    OptimizerOpt,
    PatienceOpt,
    SeedOpt,
    StrategyOpt,
    WeightsOpt,
    WorkersOpt,
    build_classifier,
    console,
    errors,
    fail,
    load_model_or_fail,
    open_or_fail,
    progress_bar,
    report_notes,
    report_skipped,
    report_warnings,
)
from genrenet.data.splits import SPLIT_METHODS
from genrenet.evaluation.metrics import headline


def train(
    data: DataArg,
    model: ModelOpt = DEFAULT_MODEL,
    features: FeaturesOpt = None,
    out: Annotated[Path, typer.Option(help="Run folder: model, metrics, plots, logs.")] = Path(
        "runs/latest"
    ),
    epochs: EpochsOpt = DEFAULT_EPOCHS,
    batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    lr: LrOpt = None,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER,
    weight_decay: DecayOpt = DEFAULT_WEIGHT_DECAY,
    crop_seconds: CropOpt = DEFAULT_CROP_SECONDS,
    crops_per_track: CropsOpt = DEFAULT_CROPS_PER_TRACK,
    patience: PatienceOpt = DEFAULT_PATIENCE,
    split: Annotated[
        str,
        typer.Option(
            help="auto, stratified, grouped, filtered, source, or a split file (JSON or CSV)."
        ),
    ] = "auto",
    class_weights: WeightsOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    max_minutes: MinutesOpt = None,
    model_arg: ModelArgOpt = None,
    freeze: FreezeOpt = None,
    head: HeadOpt = None,
    augment: AugmentOpt = DEFAULT_AUGMENT,
    devices: DevicesOpt = DEFAULT_DEVICES,
    num_nodes: NumNodesOpt = DEFAULT_NUM_NODES,
    strategy: StrategyOpt = DEFAULT_STRATEGY,
    accelerator: AcceleratorOpt = DEFAULT_ACCELERATOR,
    resume: Annotated[bool, typer.Option(help="Resume from the run folder's last checkpoint.")] = (
        False
    ),
    cache: CacheOpt = None,
    workers: ExtractWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Train a genre classifier, evaluate it on held-out tracks, write the run folder."""
    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    clf = build_classifier(locals())
    split_arg = Path(split) if split not in SPLIT_METHODS else split
    try:
        with progress_bar("extracting features", len(collection.tracks)) as advance:
            outcome = clf.fit(
                collection,
                out_dir=out,
                split=split_arg,
                cache=cache,
                workers=workers,
                resume=resume,
                progress=errors.is_terminal,
                on_extract=advance,
            ).outcome_
    except ValueError as err:
        raise fail(str(err), 2) from None
    report_notes(outcome.split.notes)
    if clf.metadata.get("stopped_by") == "max_minutes":
        console.print(
            f"[yellow]training was cut short by --max-minutes {max_minutes:g} after "
            f"{clf.metadata.get('epochs_run')} epochs (of at most {epochs}); the run folder "
            "records it[/yellow]"
        )
    print_evaluation(outcome.evaluation, f"held-out test tracks ({outcome.split.method} split)")
    console.print(f"test: {headline(outcome.evaluation.track)}; {outcome.split.method} split")
    if clf.calibration:
        cal = clf.calibration
        console.print(
            f"calibrated on {escape(cal['fitted_on'])}: temperature {cal['temperature']:.3f}, "
            f"ECE {cal['ece_before']:.3f} -> {cal['ece_after']:.3f} (15 bins)"
        )
    console.print(f"augmentation: {escape(str(clf.metadata.get('augment', 'none')))}")
    console.print(f"trained on {escape(str(clf.metadata.get('device', 'cpu')))}")
    console.print(f"model and report written to {escape(str(out))}")
    report_skipped(outcome.skipped)
    if outcome.skipped:
        raise typer.Exit(1)


def _print_fold(fold) -> None:
    """One line per finished cross-validation fold."""
    reused = " (reused)" if fold.reused else ""
    console.print(
        f"fold {fold.index}: track accuracy {fold.track['accuracy']:.1%}, "
        f"macro F1 {fold.track['macro_f1']:.3f}, {fold.n_test} test tracks{reused}"
    )


def cross_validation(
    data: DataArg,
    folds: Annotated[int, typer.Option(help="Number of folds (each track is tested once).")] = 5,
    out: Annotated[
        Path, typer.Option(help="Folder: a run per fold, cv.json, cv.md, pooled confusion.")
    ] = Path("runs/cv"),
    model: ModelOpt = DEFAULT_MODEL,
    features: FeaturesOpt = None,
    epochs: EpochsOpt = DEFAULT_EPOCHS,
    batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    lr: LrOpt = None,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER,
    weight_decay: DecayOpt = DEFAULT_WEIGHT_DECAY,
    crop_seconds: CropOpt = DEFAULT_CROP_SECONDS,
    crops_per_track: CropsOpt = DEFAULT_CROPS_PER_TRACK,
    patience: PatienceOpt = DEFAULT_PATIENCE,
    class_weights: WeightsOpt = False,
    seed: SeedOpt = DEFAULT_SEED,
    max_minutes: MinutesOpt = None,
    model_arg: ModelArgOpt = None,
    freeze: FreezeOpt = None,
    head: HeadOpt = None,
    augment: AugmentOpt = DEFAULT_AUGMENT,
    devices: DevicesOpt = DEFAULT_DEVICES,
    num_nodes: NumNodesOpt = DEFAULT_NUM_NODES,
    strategy: StrategyOpt = DEFAULT_STRATEGY,
    accelerator: AcceleratorOpt = DEFAULT_ACCELERATOR,
    leaky: Annotated[
        bool,
        typer.Option(help="Also score a segment-level split (songs on both sides): the inflation."),
    ] = False,
    cache: CacheOpt = None,
    workers: ExtractWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """k-fold cross-validation by track (by artist when known): mean ± std, pooled confusion.

    Rerun with the same --out to resume: finished folds are reused, not retrained.
    """
    from genrenet.evaluation.crossval import cross_validate

    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    clf = build_classifier(locals())
    try:
        with progress_bar("extracting features", len(collection.tracks)) as advance:
            result = cross_validate(
                clf,
                collection,
                n_folds=folds,
                out_dir=out,
                cache=cache,
                workers=workers,
                seed=seed,
                progress=errors.is_terminal,
                leaky=leaky,
                on_fold=_print_fold,
                on_extract=advance,
            )
    except ValueError as err:
        raise fail(str(err), 2) from None
    report_notes(result.notes)
    print_cv(result)
    console.print(
        f"cv.json, cv.md, pooled confusion matrices and fold runs written to {escape(str(out))}"
    )
    report_skipped(result.skipped)
    if result.skipped:
        raise typer.Exit(1)


def print_cv(result) -> None:
    """Per-fold figures, mean ± std, pooled figures and the leaky contrast, as tables."""
    settings = result.settings
    table = Table(title=f"{settings['folds']}-fold cross-validation ({settings['split']})")
    for name in ("fold", "test tracks", "track acc", "macro F1", "top-3", "segment acc"):
        table.add_column(escape(name), justify="right")
    for fold in result.folds:
        row = fold.row()
        table.add_row(
            str(row["fold"]),
            str(row["test"]),
            f"{row['track_accuracy']:.1%}",
            f"{row['track_macro_f1']:.3f}",
            f"{row['track_top_3_accuracy']:.1%}",
            f"{row['segment_accuracy']:.1%}",
        )
    s = result.summary
    table.add_row(
        "[bold]mean ± std",
        "",
        f"[bold]{s['track_accuracy_mean']:.1%} ± {s['track_accuracy_std']:.1%}",
        f"[bold]{s['track_macro_f1_mean']:.3f} ± {s['track_macro_f1_std']:.3f}",
        f"{s['track_top_3_accuracy_mean']:.1%}",
        f"{s['segment_accuracy_mean']:.1%}",
    )
    console.print(table)
    pooled = result.pooled["track"]
    console.print(
        f"pooled over folds: {headline(pooled)}, macro F1 {pooled['macro_f1']:.3f}; "
        f"split {escape(str(settings['split']))}"
    )
    if result.leaky:
        lk = result.leaky
        console.print(
            f"segment accuracy, leaky split {lk['leaky_segment_accuracy']:.1%} vs honest "
            f"{lk['honest_segment_accuracy']:.1%}: inflated by {lk['inflation_pp']:+.1f} points"
        )


def grid_search(
    data: DataArg,
    grid_file: Annotated[
        Path,
        typer.Option("--grid", help="TOML: folds, seed, \\[grid] value lists, \\[fixed] settings."),
    ],
    out: Annotated[
        Path, typer.Option(help="Folder: grid.json, results.csv, results.md, cells/<id>/.")
    ] = Path("runs/grid"),
    folds: Annotated[
        int | None, typer.Option(help="Folds per cell (default: the grid file's, else 5).")
    ] = None,
    cache: CacheOpt = None,
    workers: ExtractWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Grid search: every combination scored by k-fold CV, best first; rerun to resume."""
    from dataclasses import replace

    from genrenet.evaluation.grid import load_grid, run_grid

    try:
        spec = load_grid(grid_file)
    except ValueError as err:
        raise fail(str(err), 2) from None
    if folds is not None:
        if folds < 2:
            raise fail("--folds must be at least 2", 2)
        spec = replace(spec, folds=folds)
    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    n_cells = len(spec.cells())
    console.print(f"{n_cells} cells x {spec.folds} folds; results in {escape(str(out))}")
    done = []

    def cell_done(row: dict) -> None:
        done.append(row)
        console.print(
            f"cell {len(done)}/{n_cells} {escape(str(row['id']))}: track accuracy "
            f"{row['track_accuracy_mean']:.1%} ± {row['track_accuracy_std']:.1%}"
        )

    try:
        rows = run_grid(
            collection,
            spec,
            out,
            cache=cache,
            workers=workers,
            progress=errors.is_terminal,
            on_cell=cell_done,
        )
    except ValueError as err:
        raise fail(str(err), 2) from None
    table = Table(title=f"grid search, {spec.folds}-fold CV, best first")
    keys = sorted(spec.grid)
    for name in ("rank", *keys, "track acc", "macro F1", "pooled acc [95%]", "cell"):
        table.add_column(escape(name), justify="left" if name in (*keys, "cell") else "right")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            *[escape(str(row["params"].get(k))) for k in keys],
            f"{row['track_accuracy_mean']:.1%} ± {row['track_accuracy_std']:.1%}",
            f"{row['track_macro_f1_mean']:.3f} ± {row['track_macro_f1_std']:.3f}",
            _pooled_cell(row),
            escape(str(row["id"])),
        )
    console.print(table)
    console.print(f"results.csv and results.md written to {escape(str(out))}")


def _pooled_cell(row: dict) -> str:
    """Pooled track accuracy with its 95% interval and number of tracks (when recorded)."""
    ci = row.get("pooled_track_accuracy_ci")
    if ci is None:
        return f"{row.get('pooled_track_accuracy', float('nan')):.1%}"
    return f"{row['pooled_track_accuracy']:.1%} [{ci[0]:.1%}, {ci[1]:.1%}] n={row['pooled_tracks']}"


def print_evaluation(result, title: str) -> None:
    """The headline figures as a table."""
    from genrenet.evaluation.metrics import SUMMARY_HEADER

    table = Table(title=title)
    for name in SUMMARY_HEADER:
        table.add_column(escape(name), justify="left" if name == "metric" else "right")
    for row in result.summary_rows():
        table.add_row(*(escape(str(cell)) for cell in row))
    console.print(table)


def evaluate(
    data: Annotated[Path, typer.Argument(help="A labelled collection.")],
    model: Annotated[
        Path, typer.Option("--model", help="Model folder (or a training run folder).")
    ],
    out: Annotated[Path | None, typer.Option(help="Write metrics.json and plots here.")] = None,
    part: Annotated[
        str,
        typer.Option(
            help="Tracks to score: all, or those the source marks train, valid or test "
            "(a CSV manifest's split column, GTZAN's filtered split)."
        ),
    ] = "all",
    cache: CacheOpt = None,
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Figures and plots of a saved model on a labelled collection (with 95% intervals over
    tracks, ECE and a reliability diagram)."""
    from genrenet.evaluation.ensembling import held_out_tracks
    from genrenet.evaluation.experiment import evaluate_on_collection
    from genrenet.evaluation.plots import write_report

    clf = load_model_or_fail(model)
    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    try:
        collection = held_out_tracks(collection, part)
    except ValueError as err:
        raise fail(str(err), 2) from None
    seen = tracks_seen_in_fitting(clf, collection)
    try:
        with progress_bar("extracting features", len(collection.tracks)) as advance:
            result, skipped = evaluate_on_collection(
                clf, collection, cache=cache, workers=workers, on_extract=advance, seen=seen
            )
    except ValueError as err:
        report_skipped(collection.skipped)
        raise fail(str(err)) from None
    print_evaluation(result, f"{collection.name}: {len(result.track['labels'])} genres")
    which = "all tracks" if part == "all" else f"the tracks marked {part}"
    console.print(f"{escape(which)}: {headline(result.track)}; ECE {result.track['ece']:.3f}")
    if seen is None:
        console.print("[dim]the model records no fingerprints of its training tracks[/dim]")
    elif result.meta["seen_in_fitting"]:
        console.print(
            f"[yellow]warning: {result.meta['seen_in_fitting']} of {result.track['n']} tracks "
            "were used to fit this model (training or validation): figures on them are not "
            "held out[/yellow]"
        )
    if "not_seen" in result.meta:  # the honest figures: the tracks it has not seen
        held = result.meta["not_seen"]
        console.print(f"the {held['n']} tracks it has not seen: {headline(held)}")
    if out is not None:
        write_report(result, None, out)
        console.print(f"metrics and plots written to {escape(str(out))}")
    report_skipped(skipped)
    if skipped:
        raise typer.Exit(1)


def tracks_seen_in_fitting(clf, collection) -> set[Path] | None:
    """The paths of ``collection``'s tracks that the model was fitted on (by content fingerprint;
    an ensemble: also its members', and the tracks its weights were fitted on), or None when
    nothing records them (bundles made before)."""
    from genrenet.data.fingerprints import recorded_fingerprints, seen_tracks

    models = [*getattr(clf, "members", []), clf]
    records = [recorded_fingerprints(getattr(m, "metadata", {})) for m in models]
    records = [r for r in records if r is not None]
    if not records:
        return None
    known = [f for r in records for f in r]
    return set(seen_tracks((t.path for t in collection.tracks), known))


def report(
    folder: Annotated[Path, typer.Argument(help="A run, cross-validation or grid folder.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the page and figures (default FOLDER/report)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="The data collection, if the recorded one has moved.")
    ] = None,
    cache: CacheOpt = None,
) -> None:
    """One readable page (HTML with figures inside, and Markdown) about a run, a CV or a grid."""
    from genrenet.report import build_report

    try:
        files = build_report(folder, out=out, data=data, cache=cache)
    except (FileNotFoundError, ValueError) as err:
        raise fail(str(err), 2) from None
    console.print(escape(f"report written to {files['html']} (and {files['markdown'].name})"))


def models() -> None:
    """List the architectures and their options."""
    from genrenet.models import model_names
    from genrenet.models.imagenet import timm_available
    from genrenet.models.registry import arch_options

    table = Table()
    table.add_column("model")
    table.add_column("options (defaults)")
    for name in model_names():
        options = ", ".join(f"{k}={v!r}" for k, v in arch_options(name).items())
        table.add_row(name, escape(options))
    console.print(table)
    usable, reason = timm_available()
    if not usable:
        console.print(f"imagenet is not usable here: {escape(reason)}", highlight=False)
