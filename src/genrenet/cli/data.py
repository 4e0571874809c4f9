"""Commands about data: ``synth``, ``extract``, ``info`` and ``download``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrenet.cli.common import (
    DEFAULT_SEED,
    DEFAULT_WORKERS,
    AddressOpt,
    ClipsOpt,
    DataArg,
    EngineOpt,
    FeatureKind,
    FromListOpt,
    OptionalDataArg,
    OutOpt,
    ResumeOpt,
    SecondsOpt,
    StoreCacheOpt,
    WorkersOpt,
    console,
    fail,
    open_or_fail,
    progress_bar,
    report_skipped,
    report_warnings,
)


def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the synthetic collection into.")],
    genres: Annotated[int, typer.Option(help="Number of genres.")] = 8,
    clips: ClipsOpt = 20,
    seconds: SecondsOpt = 10.0,
    sample_rate: Annotated[
        int, typer.Option("--sample-rate", "--sr", help="Sample rate (Hz).")
    ] = 22050,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = DEFAULT_SEED,
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
    console.print(
        f"wrote {len(paths)} synthetic clips ({genres} genres x {clips}) to {escape(str(out))}"
    )


def extract(
    data: OptionalDataArg = None,
    features: Annotated[FeatureKind, typer.Option(help="Feature kind.")] = FeatureKind.logmel,
    workers: WorkersOpt = DEFAULT_WORKERS,
    cache: StoreCacheOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    from_list: FromListOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
) -> None:
    """Compute full-length features of every track once and cache them on disk."""
    from functools import partial

    from genrenet.cli.batch import CacheIndex, engine_settings
    from genrenet.cli.caching import cache_inputs, fill_cache, report_run
    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    settings = engine_settings(engine, address)
    inputs = cache_inputs(data, from_list)
    config = FeatureConfig.of_kind(features.value)
    store = FeatureStore(config, cache)
    index = CacheIndex(out, resume, store.entry_path, "features")
    run = fill_cache(
        store,
        inputs,
        index,
        f"extracting {features.value}",
        workers=workers,
        ray_settings=settings,
        make_store=partial(FeatureStore, config, store.root.absolute()),
    )
    report_run(run, "ready", store.folder)


def info(
    data: DataArg,
    quick: Annotated[
        bool, typer.Option(help="Read headers only; do not decode every file.")
    ] = False,
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Tracks per genre, duration, formats, sample rates, and the files that cannot be read."""
    from genrenet.data.inventory import take_inventory

    collection = open_or_fail(data)
    report_warnings(collection.warnings)
    with progress_bar("reading", len(collection.tracks)) as advance:
        inv = take_inventory(collection, decode=not quick, workers=workers, on_done=advance)
    table = Table(title=escape(f"{inv.name} ({inv.kind})"))
    table.add_column("genre")
    table.add_column("tracks", justify="right")
    table.add_column("minutes", justify="right")
    for label, count in inv.tracks_per_label.items():
        table.add_row(escape(label), str(count), f"{inv.seconds_per_label[label] / 60:.1f}")
    table.add_row("[bold]total", f"[bold]{inv.n_tracks}", f"[bold]{inv.total_seconds / 60:.1f}")
    console.print(table)
    console.print(escape("formats: " + ", ".join(f"{k} ({v})" for k, v in inv.formats.items())))
    console.print(
        "sample rates: " + ", ".join(f"{k} Hz ({v})" for k, v in inv.sample_rates.items())
    )
    report_skipped(inv.unreadable, "cannot be read")
    if inv.n_tracks == 0:
        raise fail(f"{data}: no readable audio tracks found")
    if inv.unreadable:
        raise typer.Exit(1)


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
    console.print(f"ready: {escape(str(out))}")
