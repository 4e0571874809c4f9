"""``genrenet ensemble``: one model from several, averaging their calibrated probabilities."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from genrenet.cli.common import (
    DEFAULT_WORKERS,
    CacheOpt,
    ExtractWorkersOpt,
    console,
    fail,
    load_model_or_fail,
    open_or_fail,
    progress_bar,
    report_skipped,
)


class WeightsChoice(str, Enum):
    """How the members are weighted."""

    fit = "fit"
    equal = "equal"


def ensemble(
    bundles: Annotated[
        list[str], typer.Argument(help="Two or more model folders (or bundled model names).")
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the ensemble to.")],
    weights: Annotated[
        WeightsChoice,
        typer.Option(help="equal, or fit on held-out tracks of --data (needs --data)."),
    ] = WeightsChoice.equal,
    data: Annotated[
        Path | None,
        typer.Option(help="Labelled collection whose held-out tracks fit the weights."),
    ] = None,
    part: Annotated[
        str,
        typer.Option(help="Which tracks of --data fit the weights: valid, train, test or all."),
    ] = "valid",
    cache: CacheOpt = None,
    workers: ExtractWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Make an ensemble model: the weighted mean of its members' calibrated probabilities."""
    from genrenet.inference.ensemble import Ensemble

    if len(bundles) < 2:
        raise fail("an ensemble needs at least two models", 2)
    if weights is WeightsChoice.fit and data is None:
        raise fail("--weights fit needs --data (a labelled collection with held-out tracks)", 2)
    members = [load_model_or_fail(b) for b in bundles]
    try:
        model = Ensemble(members, metadata={"members": bundles, "weights": weights.value})
    except ValueError as err:
        raise fail(str(err), 2) from None
    if weights is WeightsChoice.fit:
        from genrenet.evaluation.ensembling import fit_ensemble

        collection = open_or_fail(data)
        try:
            with progress_bar("extracting features", len(collection.tracks)) as advance:
                record = fit_ensemble(model, collection, part, cache, workers, advance)
        except ValueError as err:
            raise fail(str(err), 2) from None
        console.print(f"weights fitted on {escape(record['fitted_on'])}")
        report_skipped(collection.skipped)
    model.save(out)
    for name, w in zip(bundles, model.weights, strict=True):
        console.print(f"  {w:.3f}  {escape(name)}", highlight=False)
    console.print(f"ensemble written to {escape(str(out))}")
