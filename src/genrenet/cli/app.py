"""The ``genrenet`` Typer app: the ``--version`` option and every command, in help order.

Exit codes: 0 all good, 1 some inputs failed (each listed with its reason), 2 usage error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from genrenet import __version__
from genrenet.cli import data, demo, experiments, export, inference
from genrenet.cli.common import console

app = typer.Typer(
    name="genrenet",
    help="Music genre classification: audio in, genres out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


COMMANDS = [
    ("synth", data.synth),
    ("extract", data.extract),
    ("embed", inference.embed),
    ("info", data.info),
    ("train", experiments.train),
    ("cv", experiments.cross_validation),
    ("grid", experiments.grid_search),
    ("evaluate", experiments.evaluate),
    ("predict", inference.predict),
    ("tag", inference.tag),
    ("export", export.export),
    ("models", experiments.models),
    ("demo", demo.demo),
    ("report", experiments.report),
    ("download", data.download),
]
"""Every command with its function, in the order ``genrenet --help`` lists them."""

for _name, _function in COMMANDS:
    app.command(_name)(_function)
