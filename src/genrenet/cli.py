"""The ``genrenet`` command line: thin commands over the Python API.

Exit codes: 0 all good, 1 some inputs failed (each listed with its reason), 2 usage error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from genrenet import __version__
from genrenet.data.tracks import Collection, Skipped

app = typer.Typer(
    name="genrenet",
    help="Music genre classification: audio in, genres out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


class FeatureKind(str, Enum):
    """Feature kinds offered on the command line."""

    logmel = "logmel"
    mfcc = "mfcc"
    musicnn = "musicnn"


def _version(value: bool) -> None:
    if value:
        console.print(f"genrenet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """genrenet: train, evaluate and serve music genre classifiers."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line and return the Exit to raise."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def open_or_fail(data: Path) -> Collection:
    """Open a collection, turning a bad path into one clear message (exit 2)."""
    from genrenet.data import open_collection

    try:
        return open_collection(data)
    except (FileNotFoundError, ValueError) as err:
        raise fail(str(err), 2) from None


def report_skipped(skipped: list[Skipped], what: str = "skipped") -> None:
    """List each file that could not be used, with its reason."""
    if not skipped:
        return
    errors.print(f"[yellow]{len(skipped)} file(s) {what}:[/]", highlight=False)
    for item in skipped:
        errors.print(f"  {item.path}: {item.reason}", highlight=False, soft_wrap=True)


def report_warnings(warnings: list[str]) -> None:
    """Print the data source's warnings."""
    for warning in warnings:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[callable]:
    """A Rich progress bar (hidden when not on a terminal); yields ``advance(path, status)``."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda *_: progress.advance(task)


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the synthetic collection into.")],
    genres: Annotated[int, typer.Option(help="Number of genres.")] = 8,
    clips: Annotated[int, typer.Option(help="Clips per genre.")] = 20,
    seconds: Annotated[float, typer.Option(help="Seconds per clip.")] = 10.0,
    sample_rate: Annotated[
        int, typer.Option("--sample-rate", "--sr", help="Sample rate (Hz).")
    ] = 22050,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 0,
    format: Annotated[str, typer.Option("--format", help="wav, flac or mp3.")] = "wav",
) -> None:
    """Generate a labelled SYNTHETIC multi-genre collection (no download needed)."""
    from genrenet.data.synth import generate_collection

    try:
        with progress_bar("synthesising", genres * clips) as advance:
            paths = generate_collection(
                out,
                n_genres=genres,
                clips_per_genre=clips,
                seconds=seconds,
                sr=sample_rate,
                seed=seed,
                fmt=format,
                progress=advance,
            )
    except ValueError as err:
        raise fail(str(err), 2) from None
    console.print(f"wrote {len(paths)} synthetic clips ({genres} genres x {clips}) to {out}")


@app.command()
def extract(
    data: Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")],
    features: Annotated[FeatureKind, typer.Option(help="Feature kind.")] = FeatureKind.logmel,
    workers: Annotated[int, typer.Option(help="Parallel workers.")] = _default_workers(),
    cache: Annotated[
        Path | None, typer.Option(help="Cache folder (default ~/.cache/genrenet).")
    ] = None,
) -> None:
    """Compute full-length features of every track once and cache them on disk."""
    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    store = FeatureStore(FeatureConfig.of_kind(features.value), cache)
    paths = [t.path for t in collection.tracks]
    with progress_bar(f"extracting {features.value}", len(paths)) as advance:
        result = store.extract(paths, workers=workers, on_done=advance)
    skipped = collection.skipped + result.failed
    console.print(
        f"{len(result.ok)} of {len(paths)} tracks ready in {store.folder} "
        f"({len(result.computed)} computed, {len(result.cached)} from the cache)"
    )
    report_skipped(skipped)
    if not result.ok:
        raise fail(f"{data}: no readable audio tracks found")
    if skipped:
        raise typer.Exit(1)


@app.command()
def embed(
    data: Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")],
    tagger: Annotated[str, typer.Option(help="Which musicnn weights: msd or mtt.")] = "msd",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also write an .npz: per track (mean over windows) and per window, for each of "
            "mean_pool, max_pool, penultimate, with paths and labels."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Parallel workers.")] = _default_workers(),
    cache: Annotated[
        Path | None, typer.Option(help="Cache folder (default ~/.cache/genrenet).")
    ] = None,
) -> None:
    """musicnn embeddings of every track, per 3 s window, kept in the feature store."""
    from genrenet.embeddings import EmbeddingStore
    from genrenet.pretrained.musicnn_weights import MissingWeightsError

    if tagger not in ("msd", "mtt"):
        raise fail(f"--tagger must be msd or mtt, got {tagger!r}", 2)
    if out is not None and out.suffix != ".npz":
        raise fail(f"{out}: --out must name an .npz file", 2)
    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    store = EmbeddingStore(tagger, cache)
    paths = [t.path for t in collection.tracks]
    try:
        with progress_bar(f"embedding with {tagger.upper()}_musicnn", len(paths)) as advance:
            result = store.extract(paths, workers=workers, on_done=advance)
    except MissingWeightsError as err:
        raise fail(str(err), 2) from None
    skipped = collection.skipped + result.failed
    console.print(
        f"{len(result.ok)} of {len(paths)} tracks embedded in {store.folder} "
        f"({len(result.computed)} computed, {len(result.cached)} from the cache)"
    )
    if out is not None and result.ok:
        from genrenet.embeddings import write_npz

        ok = set(result.ok)
        tracks = [t for t in collection.tracks if t.path in ok]
        write_npz(out, store, tracks)
        console.print(f"embeddings of {len(tracks)} tracks written to {out}")
    report_skipped(skipped)
    if not result.ok:
        raise fail(f"{data}: no readable audio tracks found")
    if skipped:
        raise typer.Exit(1)


@app.command()
def info(
    data: Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")],
    quick: Annotated[
        bool, typer.Option(help="Read headers only; do not decode every file.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Parallel workers.")] = _default_workers(),
) -> None:
    """Tracks per genre, duration, formats, sample rates, and the files that cannot be read."""
    from genrenet.data.inventory import take_inventory

    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    with progress_bar("reading", len(collection.tracks)) as advance:
        inv = take_inventory(collection, decode=not quick, workers=workers, on_done=advance)
    table = Table(title=f"{inv.name} ({inv.kind})")
    table.add_column("genre")
    table.add_column("tracks", justify="right")
    table.add_column("minutes", justify="right")
    for label, count in inv.tracks_per_label.items():
        table.add_row(label, str(count), f"{inv.seconds_per_label[label] / 60:.1f}")
    table.add_row("[bold]total", f"[bold]{inv.n_tracks}", f"[bold]{inv.total_seconds / 60:.1f}")
    console.print(table)
    console.print("formats: " + ", ".join(f"{k} ({v})" for k, v in inv.formats.items()))
    console.print(
        "sample rates: " + ", ".join(f"{k} Hz ({v})" for k, v in inv.sample_rates.items())
    )
    report_skipped(inv.unreadable, "cannot be read")
    if inv.n_tracks == 0:
        raise fail(f"{data}: no readable audio tracks found")
    if inv.unreadable:
        raise typer.Exit(1)


def _parse_model_args(pairs: list[str]) -> dict:
    """``key=value`` strings to a dict, values parsed as JSON where they parse (numbers, bools)."""
    import json

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--model-arg expects key=value, got {pair!r}", 2)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# Options shared by train, cv and grid-style commands.
ModelOpt = Annotated[str, typer.Option(help="Architecture (see `genrenet models`).")]
FeaturesOpt = Annotated[
    FeatureKind | None,
    typer.Option(help="Feature kind (default logmel; musicnn models use their own)."),
]
EpochsOpt = Annotated[int, typer.Option(help="Most epochs (early stopping may end sooner).")]
BatchOpt = Annotated[int, typer.Option(help="Batch size.")]
LrOpt = Annotated[
    float | None,
    typer.Option(help="Learning rate (default 1e-3; 1e-4 when fine-tuning musicnn)."),
]
FreezeOpt = Annotated[
    str | None,
    typer.Option(
        help="musicnn models: 'all' (head on frozen embeddings), 'frontend' (fine-tune mid- "
        "and back-end) or 'none' (fine-tune everything). Same as --model-arg freeze=..."
    ),
]
HeadOpt = Annotated[
    str | None,
    typer.Option(
        help="musicnn models: logreg, svm, mlp (fitted on frozen embeddings with --freeze all) "
        "or dense (trained by gradient descent). Same as --model-arg head=..."
    ),
]
OptimizerOpt = Annotated[str, typer.Option(help="adam or adamw.")]
DecayOpt = Annotated[float, typer.Option(help="Weight decay.")]
CropOpt = Annotated[float, typer.Option(help="Seconds per training crop / patch.")]
CropsOpt = Annotated[int, typer.Option(help="Random crops per track per epoch.")]
PatienceOpt = Annotated[int, typer.Option(help="Early-stopping patience (epochs).")]
WeightsOpt = Annotated[bool, typer.Option(help="Weight classes by inverse frequency.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]
MinutesOpt = Annotated[float | None, typer.Option(help="Stop training after this long.")]
ModelArgOpt = Annotated[
    list[str] | None, typer.Option(help="Architecture option key=value (repeatable).")
]
AugmentOpt = Annotated[
    str,
    typer.Option(
        help="Augment training tracks: a comma list of pitch, stretch, noise, specaugment, "
        "mixup, or a .toml/.json file of settings; 'none' for no augmentation."
    ),
]
CacheOpt = Annotated[Path | None, typer.Option(help="Feature cache folder.")]
WorkersOpt = Annotated[int, typer.Option(help="Parallel workers for feature extraction.")]


TRAINING_OPTIONS = {
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "epochs": "max_epochs",
    "crops_per_track": "crops_per_track",
    "patience": "patience",
    "class_weights": "class_weights",
    "seed": "seed",
    "max_minutes": "max_minutes",
}
"""Command-line option -> Classifier/TrainConfig setting, for train and cv."""


def build_classifier(options: dict):
    """A Classifier from a command's options; bad values become one clear message (exit 2)."""
    from genrenet.classifier import Classifier

    settings = {key: options[name] for name, key in TRAINING_OPTIONS.items()}
    model_kwargs = _parse_model_args(options["model_arg"] or [])
    for name in ("freeze", "head"):
        if options.get(name) is not None:
            model_kwargs[name] = options[name]
    try:
        return Classifier(
            model=options["model"],
            features=options["features"].value if options["features"] else None,
            crop_seconds=options["crop_seconds"],
            model_kwargs=model_kwargs,
            augment=options["augment"],
            **settings,
        )
    except (ValueError, TypeError) as err:
        raise fail(str(err), 2) from None


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")],
    model: ModelOpt = "resnet",
    features: FeaturesOpt = None,
    out: Annotated[Path, typer.Option(help="Run folder: model, metrics, plots, logs.")] = Path(
        "runs/latest"
    ),
    epochs: EpochsOpt = 60,
    batch_size: BatchOpt = 32,
    lr: LrOpt = None,
    optimizer: OptimizerOpt = "adam",
    weight_decay: DecayOpt = 0.0,
    crop_seconds: CropOpt = 3.0,
    crops_per_track: CropsOpt = 4,
    patience: PatienceOpt = 10,
    split: Annotated[
        str,
        typer.Option(
            help="auto, stratified, grouped, filtered, source, or a split file (JSON or CSV)."
        ),
    ] = "auto",
    class_weights: WeightsOpt = False,
    seed: SeedOpt = 0,
    max_minutes: MinutesOpt = None,
    model_arg: ModelArgOpt = None,
    freeze: FreezeOpt = None,
    head: HeadOpt = None,
    augment: AugmentOpt = "none",
    resume: Annotated[bool, typer.Option(help="Resume from the run folder's last checkpoint.")] = (
        False
    ),
    cache: CacheOpt = None,
    workers: WorkersOpt = _default_workers(),
) -> None:
    """Train a genre classifier, evaluate it on held-out tracks, write the run folder."""
    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    clf = build_classifier(locals())
    split_arg = Path(split) if split not in SPLIT_CHOICES else split
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
            )
    except ValueError as err:
        raise fail(str(err), 2) from None
    for note in outcome.split.notes:
        errors.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    print_evaluation(outcome.evaluation, f"held-out test tracks ({outcome.split.method} split)")
    console.print(f"augmentation: {clf.metadata.get('augment', 'none')}")
    console.print(f"model and report written to {out}")
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


@app.command("cv")
def cross_validation(
    data: Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")],
    folds: Annotated[int, typer.Option(help="Number of folds (each track is tested once).")] = 5,
    out: Annotated[
        Path, typer.Option(help="Folder: a run per fold, cv.json, cv.md, pooled confusion.")
    ] = Path("runs/cv"),
    model: ModelOpt = "resnet",
    features: FeaturesOpt = None,
    epochs: EpochsOpt = 60,
    batch_size: BatchOpt = 32,
    lr: LrOpt = None,
    optimizer: OptimizerOpt = "adam",
    weight_decay: DecayOpt = 0.0,
    crop_seconds: CropOpt = 3.0,
    crops_per_track: CropsOpt = 4,
    patience: PatienceOpt = 10,
    class_weights: WeightsOpt = False,
    seed: SeedOpt = 0,
    max_minutes: MinutesOpt = None,
    model_arg: ModelArgOpt = None,
    freeze: FreezeOpt = None,
    head: HeadOpt = None,
    augment: AugmentOpt = "none",
    leaky: Annotated[
        bool,
        typer.Option(help="Also score a segment-level split (songs on both sides): the inflation."),
    ] = False,
    cache: CacheOpt = None,
    workers: WorkersOpt = _default_workers(),
) -> None:
    """k-fold cross-validation by track (by artist when known): mean ± std, pooled confusion.

    Rerun with the same --out to resume: finished folds are reused, not retrained.
    """
    from genrenet.crossval import cross_validate

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
    for note in result.notes:
        errors.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    print_cv(result)
    console.print(f"cv.json, cv.md, pooled confusion matrices and fold runs written to {out}")
    report_skipped(result.skipped)
    if result.skipped:
        raise typer.Exit(1)


def print_cv(result) -> None:
    """Per-fold figures, mean ± std, pooled figures and the leaky contrast, as tables."""
    settings = result.settings
    table = Table(title=f"{settings['folds']}-fold cross-validation ({settings['split']})")
    for name in ("fold", "test tracks", "track acc", "macro F1", "top-3", "segment acc"):
        table.add_column(name, justify="right")
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
        f"pooled over folds: track accuracy {pooled['accuracy']:.1%}, "
        f"macro F1 {pooled['macro_f1']:.3f} ({pooled['n']} tracks)"
    )
    if result.leaky:
        lk = result.leaky
        console.print(
            f"segment accuracy, leaky split {lk['leaky_segment_accuracy']:.1%} vs honest "
            f"{lk['honest_segment_accuracy']:.1%}: inflated by {lk['inflation_pp']:+.1f} points"
        )


@app.command("grid")
def grid_search(
    data: Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")],
    grid_file: Annotated[
        Path,
        typer.Option("--grid", help="TOML: folds, seed, [grid] value lists, [fixed] settings."),
    ],
    out: Annotated[
        Path, typer.Option(help="Folder: grid.json, results.csv, results.md, cells/<id>/.")
    ] = Path("runs/grid"),
    folds: Annotated[
        int | None, typer.Option(help="Folds per cell (default: the grid file's, else 5).")
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="Feature cache folder.")] = None,
    workers: Annotated[int, typer.Option(help="Parallel workers for feature extraction.")] = (
        _default_workers()
    ),
) -> None:
    """Grid search: every combination scored by k-fold CV, best first; rerun to resume."""
    from dataclasses import replace

    from genrenet.grid import load_grid, run_grid

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
    console.print(f"{n_cells} cells x {spec.folds} folds; results in {out}")
    done = []

    def cell_done(row: dict) -> None:
        done.append(row)
        console.print(
            f"cell {len(done)}/{n_cells} {row['id']}: track accuracy "
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
    for name in ("rank", *keys, "track acc", "macro F1", "cell"):
        table.add_column(name, justify="left" if name in (*keys, "cell") else "right")
    for row in rows:
        table.add_row(
            str(row["rank"]),
            *[str(row["params"].get(k)) for k in keys],
            f"{row['track_accuracy_mean']:.1%} ± {row['track_accuracy_std']:.1%}",
            f"{row['track_macro_f1_mean']:.3f} ± {row['track_macro_f1_std']:.3f}",
            row["id"],
        )
    console.print(table)
    console.print(f"results.csv and results.md written to {out}")


SPLIT_CHOICES = ("auto", "stratified", "grouped", "filtered", "source")


def print_evaluation(result, title: str) -> None:
    """The headline figures as a table."""
    from genrenet.evaluation import SUMMARY_HEADER

    table = Table(title=title)
    for name in SUMMARY_HEADER:
        table.add_column(name, justify="left" if name == "metric" else "right")
    for row in result.summary_rows():
        table.add_row(*row)
    console.print(table)


def load_model_or_fail(model_dir: Path | str):
    """Load a saved classifier (folder or bundled name), turning any problem into one clear
    message (exit 2)."""
    from genrenet.classifier import BundleError, Classifier
    from genrenet.pretrained.musicnn_weights import MissingWeightsError
    from genrenet.pretrained.tf_checkpoint import CheckpointError

    try:
        return Classifier.load(model_dir)
    except (BundleError, MissingWeightsError, CheckpointError) as err:
        raise fail(str(err), 2) from None


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="A labelled collection.")],
    model: Annotated[
        Path, typer.Option("--model", help="Model folder (or a training run folder).")
    ],
    out: Annotated[Path | None, typer.Option(help="Write metrics.json and plots here.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Feature cache folder.")] = None,
    workers: Annotated[int, typer.Option(help="Parallel workers.")] = _default_workers(),
) -> None:
    """Figures and plots of a saved model on a labelled collection."""
    from genrenet.evaluation import write_report
    from genrenet.experiment import evaluate_on_collection

    clf = load_model_or_fail(model)
    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    try:
        with progress_bar("extracting features", len(collection.tracks)) as advance:
            result, skipped = evaluate_on_collection(
                clf, collection, cache=cache, workers=workers, on_extract=advance
            )
    except ValueError as err:
        report_skipped(collection.skipped)
        raise fail(str(err)) from None
    print_evaluation(result, f"{collection.name}: {len(result.track['labels'])} genres")
    if out is not None:
        write_report(result, None, out)
        console.print(f"metrics and plots written to {out}")
    report_skipped(skipped)
    if skipped:
        raise typer.Exit(1)


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[Skipped]]:
    """Files, folders (searched recursively for audio) and glob patterns to a list of files."""
    import glob

    from genrenet.data.tracks import is_audio_path

    files: list[Path] = []
    missing: list[Skipped] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_audio_path(p)))
        elif path.exists() or path.is_symlink():
            files.append(path)
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                missing.append(Skipped(path, "the pattern matches no file"))
            files.extend(m for m in matches if m.is_file())
        else:
            missing.append(Skipped(path, "file not found"))
    return files, missing


TopKHelp = "How many {} to list per file."
HopOpt = Annotated[
    float | None,
    typer.Option(help="Seconds between windows (default: the patch length, no overlap)."),
]
TimelineOpt = Annotated[bool, typer.Option(help="Also give the labels of each window.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV on stdout.")]
WorkersOpt = Annotated[int, typer.Option(help="Threads decoding files ahead.")]


@app.command()
def predict(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, folders or glob patterns.")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Model folder (or a training run folder), or a bundled model's name "
            "(default: gtzan-musicnn, the 10 GTZAN genres on musicnn).",
        ),
    ] = "gtzan-musicnn",
    top_k: Annotated[int, typer.Option(help=TopKHelp.format("genres"))] = 3,
    hop: HopOpt = None,
    timeline: TimelineOpt = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    workers: WorkersOpt = _default_workers(),
) -> None:
    """Genres of songs of any length: windows over the whole song, probabilities averaged."""
    _check_output_options(as_json, as_csv, hop)
    clf = load_model_or_fail(model)
    if not as_json and not as_csv:
        errors.print(f"model: {clf.describe()}")

    def run(files: list[Path]):
        return clf.predict_files(
            files, top_k=top_k, hop_seconds=hop, timeline=timeline, workers=workers
        )

    _run_on_files(inputs, run, "predicting", as_json, as_csv, timeline, "classified")


@app.command()
def tag(
    inputs: Annotated[list[str], typer.Argument(help="Audio files, folders or glob patterns.")],
    tagger: Annotated[
        str, typer.Option(help="msd (Million Song Dataset tags) or mtt (MagnaTagATune tags).")
    ] = "msd",
    architecture: Annotated[
        str, typer.Option("--arch", help="musicnn, or vgg (the baseline in the same wheel).")
    ] = "musicnn",
    top_k: Annotated[int, typer.Option(help=TopKHelp.format("tags") + " 50 gives all.")] = 10,
    hop: HopOpt = None,
    timeline: TimelineOpt = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    workers: WorkersOpt = _default_workers(),
) -> None:
    """Music tags of whole songs with the pretrained musicnn: 3 s patches, averaged."""
    from genrenet.pretrained.musicnn_weights import MissingWeightsError
    from genrenet.pretrained.tf_checkpoint import CheckpointError
    from genrenet.tagging import Tagger

    _check_output_options(as_json, as_csv, hop)
    if top_k < 1:
        raise fail("--top-k must be at least 1", 2)
    try:
        model = Tagger(tagger, architecture)
    except (MissingWeightsError, CheckpointError) as err:
        raise fail(str(err), 2) from None
    except ValueError as err:
        raise fail(str(err), 2) from None
    if not as_json and not as_csv:
        errors.print(f"model: {model.model_name} (musicnn 0.1.0 weights, {tagger.upper()} tags)")

    def run(files: list[Path]):
        return model.tag_files(
            files, top_k=top_k, hop_seconds=hop, timeline=timeline, workers=workers
        )

    _run_on_files(inputs, run, "tagging", as_json, as_csv, timeline, "tagged")


def _check_output_options(as_json: bool, as_csv: bool, hop: float | None) -> None:
    if as_json and as_csv:
        raise fail("choose one of --json and --csv", 2)
    if hop is not None and hop <= 0:
        raise fail("--hop must be positive", 2)


def _run_on_files(
    inputs: list[str],
    run,
    verb: str,
    as_json: bool,
    as_csv: bool,
    timeline: bool,
    done: str,
) -> None:
    """Expand the inputs, run ``run(files)`` (an iterator of Predictions), print, set the exit
    code: 1 when some file failed, with a message when all did."""
    import json

    files, missing = expand_inputs(inputs)
    if not files and not missing:
        raise fail("no audio files found in the given inputs")
    results = [_missing_prediction(s) for s in missing]
    with progress_bar(verb, len(files)) as advance:
        for prediction in run(files):
            results.append(prediction)
            advance()
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    elif as_csv:
        _print_csv(results, timeline)
    else:
        _print_predictions(results)
    failed = [r for r in results if r.error]
    if not as_json and not as_csv:
        report_skipped([Skipped(r.path, r.error) for r in failed], "failed")
    if failed and len(failed) == len(results):
        raise fail(f"no file could be {done}")
    if failed:
        raise typer.Exit(1)


def _missing_prediction(skipped: Skipped):
    from genrenet.predictor import Prediction

    return Prediction(skipped.path, error=skipped.reason)


def _print_predictions(results) -> None:
    table = Table()
    table.add_column("file")
    table.add_column("labels (best first)")
    for r in results:
        if r.error:
            continue
        table.add_row(str(r.path), ", ".join(f"{t['label']} {t['score']:.0%}" for t in r.top))
        if r.timeline:
            for w in r.timeline:
                best = w["top"][0]
                table.add_row(
                    f"  {w['start']:7.1f}-{w['end']:.1f} s", f"{best['label']} {best['score']:.0%}"
                )
    console.print(table)


def _print_csv(results, timeline: bool) -> None:
    import csv
    import sys

    writer = csv.writer(sys.stdout)
    if timeline:
        writer.writerow(["path", "start", "end", "rank", "label", "score"])
        for r in results:
            for w in r.timeline or []:
                for rank, t in enumerate(w["top"], 1):
                    writer.writerow([r.path, w["start"], w["end"], rank, t["label"], t["score"]])
        return
    writer.writerow(["path", "rank", "label", "score", "error"])
    for r in results:
        if r.error:
            writer.writerow([r.path, "", "", "", r.error])
        for rank, t in enumerate(r.top, 1):
            writer.writerow([r.path, rank, t["label"], t["score"], ""])


@app.command()
def models() -> None:
    """List the architectures and their options."""
    from genrenet.models import model_names
    from genrenet.models.registry import arch_options

    table = Table()
    table.add_column("model")
    table.add_column("options (defaults)")
    for name in model_names():
        table.add_row(name, ", ".join(f"{k}={v!r}" for k, v in arch_options(name).items()))
    console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the collection, cache and run.")] = Path(
        "demo-output"
    ),
    model: Annotated[str, typer.Option(help="Architecture to train.")] = "resnet",
    genres: Annotated[int, typer.Option(help="Synthetic genres.")] = 8,
    clips: Annotated[int, typer.Option(help="Clips per genre.")] = 40,
    seconds: Annotated[float, typer.Option(help="Seconds per clip.")] = 10.0,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 40,
    max_minutes: Annotated[float, typer.Option(help="Training time limit.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel workers.")] = _default_workers(),
    yours: Annotated[
        Path,
        typer.Option(help="A folder of your own music for the bundled model to classify."),
    ] = Path("my-music"),
) -> None:
    """The embedded default on SYNTHETIC music: generate, extract, train, evaluate, predict;
    then the bundled GTZAN model (musicnn) classifies a few clips and your own files."""
    from genrenet.classifier import Classifier
    from genrenet.data.synth import generate_collection

    data = out / "synthetic"
    console.rule("1/5  a synthetic collection (made-up genres, not real music)")
    expected = genres * clips
    existing = sum(1 for _ in data.glob("*/*.wav")) if data.exists() else 0
    if existing != expected:
        with progress_bar("synthesising", expected) as advance:
            generate_collection(
                data,
                n_genres=genres,
                clips_per_genre=clips,
                seconds=seconds,
                seed=seed,
                progress=advance,
            )
    console.print(f"{expected} clips of {seconds:g} s in {genres} genres: {data}")
    console.rule(f"2/5  features and 3/5 training {model}")
    clf = Classifier(
        model=model, **DEMO_TRAINING, max_epochs=epochs, max_minutes=max_minutes, seed=seed
    )
    with progress_bar("extracting features", expected) as advance:
        outcome = clf.fit(
            data,
            out_dir=out / "run",
            cache=out / "cache",
            workers=workers,
            progress=errors.is_terminal,
            on_extract=advance,
        )
    print_evaluation(outcome.evaluation, f"held-out synthetic test tracks ({outcome.split.method})")
    console.print(
        f"report (metrics.json, confusion matrix, curves, per-genre accuracy): {out / 'run'}"
    )
    console.rule("4/5  predictions for a few held-out files")
    tracks = [data / p for p in _held_out_examples(out / "run" / "split.json", genres)]
    table = Table()
    for column in ("file", "true genre", "predicted (best first)"):
        table.add_column(column)
    for path in tracks:
        pred = clf.predict_file(path, top_k=3)
        table.add_row(
            path.name,
            path.parent.name,
            ", ".join(f"{t['label']} {t['score']:.0%}" for t in pred.top),
        )
    console.print(table)
    console.print(
        f"held-out track accuracy: {outcome.evaluation.track['accuracy']:.1%}  "
        f"(model: {out / 'run' / 'model'})"
    )
    console.rule("5/5  the bundled GTZAN genre model (musicnn, no training) on a few files")
    _demo_bundled_model(data, out / "run" / "split.json", yours, workers)


def _demo_bundled_model(data: Path, split_file: Path, yours: Path, workers: int) -> None:
    """Classify synthetic clips of genres GTZAN also has, and the user's files, with the
    bundled model, saying plainly which model answered."""
    from genrenet.classifier import BundleError, Classifier
    from genrenet.pretrained.musicnn_weights import MissingWeightsError

    try:
        clf = Classifier.load("gtzan-musicnn")
    except (BundleError, MissingWeightsError) as err:
        console.print(f"[yellow]skipped: {err}[/yellow]")
        return
    console.print(f"model: {clf.describe()}")
    examples = [data / p for p in _held_out_examples(split_file, 100)]
    files = [p for p in examples if p.parent.name in clf.labels][:4]
    own: list[Path] = []
    if yours.is_dir():
        own, _ = expand_inputs([str(yours)])
    table = Table()
    for column in ("file", "what it is", "gtzan-musicnn says (best first)"):
        table.add_column(column)
    for pred in clf.predict_files(files + own, workers=workers):
        path = pred.path
        truth = f"synthetic {path.parent.name}" if path in files else "your file"
        answer = pred.error or ", ".join(f"{t['label']} {t['score']:.0%}" for t in pred.top)
        table.add_row(path.name, truth, answer)
    console.print(table)
    console.print(
        "The synthetic clips are not real music, so the GTZAN model may well disagree with "
        "their made-up genre names."
        + ("" if own else f" Put your own songs in {yours}/ to have them classified here.")
    )


DEMO_TRAINING = {
    "crop_seconds": 3.0,
    "batch_size": 32,
    "crops_per_track": 4,
    "lr": 2e-3,
    "patience": 8,
}
"""Training settings of ``genrenet demo``: sized to finish in about 3 minutes on 2 CPU cores."""


def _held_out_examples(split_file: Path, n: int) -> list[str]:
    """One test track per genre (source ids are paths relative to the collection)."""
    import json

    test = json.loads(split_file.read_text())["test"]
    seen: dict[str, str] = {}
    for track_id in test:
        seen.setdefault(Path(track_id).parts[0], track_id)
    return list(seen.values())[:n]


@app.command()
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
    console.print(f"report written to {files['html']} (and {files['markdown'].name})")


@app.command()
def download(
    dataset: Annotated[str, typer.Argument(help="gtzan, fma-small, fma-medium or fma-metadata.")],
    dest: Annotated[Path, typer.Argument(help="Folder to download and unpack into.")],
    base_url: Annotated[
        str | None, typer.Option(help="Another host; the archive's file name is appended.")
    ] = None,
    no_extract: Annotated[
        bool, typer.Option("--no-extract", help="Keep the verified archive, do not unpack.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Download, verify and unpack a public genre dataset; rerun to resume an interrupted one."""
    from genrenet.data.download import DownloadError
    from genrenet.data.download import download as fetch

    try:
        out = fetch(dataset, dest, base_url=base_url, progress=not quiet, extract=not no_extract)
    except ValueError as err:
        raise fail(str(err), 2) from None
    except DownloadError as err:
        raise fail(str(err)) from None
    console.print(f"ready: {out}")


if __name__ == "__main__":  # pragma: no cover
    app()
