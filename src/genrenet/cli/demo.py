"""``genrenet demo``: options in, :func:`genrenet.demo.run_demo` run, its steps shown with Rich."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrenet.cli.common import (
    DEFAULT_SEED,
    DEFAULT_WORKERS,
    ClipsOpt,
    SecondsOpt,
    SeedOpt,
    WorkersOpt,
    console,
    errors,
    progress_bar,
)
from genrenet.demo import DemoReporter, run_demo


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the collection, cache and run.")] = Path(
        "demo-output"
    ),
    model: Annotated[str, typer.Option(help="Architecture to train.")] = "resnet",
    genres: Annotated[int, typer.Option(help="Synthetic genres.")] = 8,
    clips: ClipsOpt = 40,
    seconds: SecondsOpt = 10.0,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 15,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            help="Stop training after this many minutes (default: no limit, the demo is bounded "
            "by epochs; a run cut short says so)."
        ),
    ] = None,
    seed: SeedOpt = DEFAULT_SEED,
    workers: WorkersOpt = DEFAULT_WORKERS,
    yours: Annotated[
        Path,
        typer.Option(help="A folder of your own music for the bundled model to classify."),
    ] = Path("my-music"),
) -> None:
    """The embedded default on SYNTHETIC music: generate, extract, train, evaluate, predict;
    then the bundled GTZAN model (musicnn) classifies a few clips and your own files."""
    run_demo(
        out,
        model=model,
        genres=genres,
        clips=clips,
        seconds=seconds,
        epochs=epochs,
        max_minutes=max_minutes,
        seed=seed,
        workers=workers,
        yours=yours,
        reporter=RichReporter(console.print),
    )


class RichReporter(DemoReporter):
    """The demo's steps as Rich rules, tables and progress bars."""

    @property
    def live_training(self) -> bool:
        return errors.is_terminal

    def step(self, title: str) -> None:
        console.rule(title)

    def line(self, text: str) -> None:
        console.print(escape(text))

    def warning(self, text: str) -> None:
        console.print(f"[yellow]{escape(text)}[/yellow]")

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        title: str | None = None,
        right: Sequence[str] = (),
    ) -> None:
        table = Table(title=title)
        for name in columns:
            table.add_column(name, justify="right" if name in right else "left")
        for row in rows:
            table.add_row(*(escape(str(cell)) for cell in row))
        console.print(table)

    def progress(self, description: str, total: int):
        return progress_bar(description, total)
