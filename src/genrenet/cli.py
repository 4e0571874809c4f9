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
    store = FeatureStore(FeatureConfig(kind=features.value), cache)
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
