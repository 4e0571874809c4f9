"""The ``genrenet`` Typer app: the ``--version`` option and every command, in help order.

Exit codes: 0 all good, 1 some inputs failed (each listed with its reason), 2 usage error.
"""

from __future__ import annotations

import warnings
from typing import Annotated

import typer
from rich.markup import escape

from genrenet.cli import data, demo, ensemble, experiments, export, inference, library, serve
from genrenet.cli.about import version_lines
from genrenet.cli.common import console, errors, fail
from genrenet.cli.extras import ExtrasGroup


class GenrenetApp(typer.Typer):
    """The Typer app, run so that an error genrenet raises on purpose (a full disk, a cache
    that cannot be written, ...) ends in one line and exit 1, never a traceback, and warnings
    are one ``warning:`` line each."""

    def __call__(self, *args, **kwargs):
        from genrenet.errors import GenrenetError
        from genrenet.files import is_disk_full

        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().__call__(*args, **kwargs)
            except GenrenetError as err:
                raise SystemExit(fail_code(str(err))) from None
            except OSError as err:  # a full disk under a writer genrenet does not own (logs)
                if not is_disk_full(err):
                    raise
                where = f" while writing {err.filename}" if err.filename else ""
                raise SystemExit(fail_code(f"no space left on the device{where}")) from None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    errors.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def fail_code(message: str) -> int:
    """Print ``error: message`` and return exit code 1."""
    fail(message)
    return 1


app = GenrenetApp(
    name="genrenet",
    cls=ExtrasGroup,  # a missing optional extra: the command that installs it
    help="Music genre classification: audio in, genres out.",
    no_args_is_help=True,
    invoke_without_command=True,  # so that `--version --verbose` reaches the callback
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="With --version: also Python, torch, onnxruntime and where the weights come from.",
        ),
    ] = False,
) -> None:
    """genrenet: train, evaluate and serve music genre classifiers."""
    if version:
        for line in version_lines(verbose):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")


COMMANDS = [
    ("synth", data.synth),
    ("extract", data.extract),
    ("embed", inference.embed),
    ("info", data.info),
    ("train", experiments.train),
    ("cv", experiments.cross_validation),
    ("grid", experiments.grid_search),
    ("evaluate", experiments.evaluate),
    ("ensemble", ensemble.ensemble),
    ("predict", inference.predict),
    ("tag", inference.tag),
    ("serve", serve.serve),
    ("retag", library.retag),
    ("export", export.export),
    ("models", experiments.models),
    ("demo", demo.demo),
    ("report", experiments.report),
    ("download", data.download),
]
"""Every command with its function, in the order ``genrenet --help`` lists them."""

for _name, _function in COMMANDS:
    app.command(_name)(_function)
