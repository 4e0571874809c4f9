"""``genrenet export``: a model as one ONNX graph that runs without PyTorch or genrenet."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from genrenet.cli.common import console, fail, load_model_or_fail

Format = Enum("Format", {"onnx": "onnx"}, type=str)
Input = Enum("Input", {"waveform": "waveform", "features": "features"}, type=str)


def export(
    model: Annotated[
        str, typer.Argument(help="Model folder (or a training run folder), or a bundled model.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The .onnx file to write.")],
    format: Annotated[Format, typer.Option("--format", help="Only onnx for now.")] = Format.onnx,
    input: Annotated[
        Input,
        typer.Option(
            "--input",
            help="waveform: windows [batch, samples] at the model's sample rate, the front end "
            "inside the graph; features: normalised patches [batch, 1, n_features, frames].",
        ),
    ] = Input.waveform,
) -> None:
    """Export a model to ONNX: probabilities out, labels and sample rate in the metadata."""
    from genrenet.errors import GenrenetError
    from genrenet.inference.export import read_metadata, sidecar_path
    from genrenet.inference.runtime import import_onnxruntime

    if out.suffix != ".onnx":
        raise fail(f"{out}: --out must name an .onnx file", 2)
    try:
        import_onnxruntime()
        import onnx  # noqa: F401
    except (GenrenetError, ImportError) as err:
        message = str(err) if isinstance(err, GenrenetError) else "pip install 'genrenet[onnx]'"
        raise fail(f"export needs onnx and onnxruntime: {message}", 2) from None
    clf = load_model_or_fail(model)
    try:
        path = clf.export(out, Input(input).value)
    except GenrenetError as err:
        raise fail(str(err)) from None
    meta = read_metadata(path)
    console.print(
        f"{escape(str(path))}: {len(meta['labels'])} genres, input {meta['input']} "
        f"{meta['input_shape']} at {meta['sample_rate']} Hz "
        f"({path.stat().st_size / 2**20:.1f} MiB); config in {escape(str(sidecar_path(path)))}",
        highlight=False,
    )
