"""Optional extras: a command that needs one that is not installed says the one command that
installs it, instead of a traceback."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from genrenet.cli.common import fail

#: Top-level module -> the extra of pyproject.toml that installs it.
EXTRA_OF = {
    "lightning": "train",
    "pytorch_lightning": "train",
    "torchmetrics": "train",
    "matplotlib": "train",
    "PIL": "train",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "fastapi": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "mutagen": "beets",
    "beets": "beets",
    "beetsplug": "beets",
    "ray": "ray",
    "pyarrow": "ray",
    "timm": "imagenet",
}


def install_hint(module: str) -> str | None:
    """``pip install 'genrenet[extra]'`` for a module an extra provides, else None."""
    extra = EXTRA_OF.get(module.split(".")[0])
    return f"pip install 'genrenet[{extra}]'" if extra else None


class ExtrasGroup(TyperGroup):
    """The command group: a missing optional module ends the command with exit 2 and the
    command that installs it."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as err:
            hint = install_hint(err.name or "")
            if hint is None:
                raise
            command = ctx.invoked_subcommand or "this command"
            message = f"{command} needs {err.name}, which is not installed: {hint}"
            raise fail(message, 2) from None
