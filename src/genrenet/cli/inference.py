"""Commands that run pretrained or trained models on audio: ``predict``, ``tag`` and ``embed``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrenet.cli.common import (
    DEFAULT_WORKERS,
    DataArg,
    DecodeWorkersOpt,
    StoreCacheOpt,
    WorkersOpt,
    console,
    errors,
    expand_inputs,
    fail,
    load_model_or_fail,
    open_or_fail,
    progress_bar,
    report_skipped,
    report_warnings,
)
from genrenet.data.tracks import Skipped

InputsArg = Annotated[list[str], typer.Argument(help="Audio files, folders or glob patterns.")]
TopKHelp = "How many {} to list per file."
HopOpt = Annotated[
    float | None,
    typer.Option(help="Seconds between windows (default: the patch length, no overlap)."),
]
TimelineOpt = Annotated[bool, typer.Option(help="Also give the labels of each window.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV on stdout.")]


def embed(
    data: DataArg,
    tagger: Annotated[str, typer.Option(help="Which musicnn weights: msd or mtt.")] = "msd",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also write an .npz: per track (mean over windows) and per window, for each of "
            "mean_pool, max_pool, penultimate, with paths and labels."
        ),
    ] = None,
    workers: WorkersOpt = DEFAULT_WORKERS,
    cache: StoreCacheOpt = None,
) -> None:
    """musicnn embeddings of every track, per 3 s window, kept in the feature store."""
    from genrenet.pretrained.embeddings import EmbeddingStore
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
        f"{len(result.ok)} of {len(paths)} tracks embedded in {escape(str(store.folder))} "
        f"({len(result.computed)} computed, {len(result.cached)} from the cache)"
    )
    if out is not None and result.ok:
        from genrenet.pretrained.embeddings import write_npz

        ok = set(result.ok)
        tracks = [t for t in collection.tracks if t.path in ok]
        write_npz(out, store, tracks)
        console.print(f"embeddings of {len(tracks)} tracks written to {escape(str(out))}")
    report_skipped(skipped)
    if not result.ok:
        raise fail(f"{data}: no readable audio tracks found")
    if skipped:
        raise typer.Exit(1)


def predict(
    inputs: InputsArg,
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
    workers: DecodeWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Genres of songs of any length: windows over the whole song, probabilities averaged."""
    _check_output_options(as_json, as_csv, hop)
    clf = load_model_or_fail(model)
    if not as_json and not as_csv:
        errors.print(f"model: {escape(clf.describe())}")

    def run(files: list[Path]):
        return clf.predict_files(
            files, top_k=top_k, hop_seconds=hop, timeline=timeline, workers=workers
        )

    _run_on_files(inputs, run, "predicting", as_json, as_csv, timeline, "classified")


def tag(
    inputs: InputsArg,
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
    workers: DecodeWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Music tags of whole songs with the pretrained musicnn: 3 s patches, averaged."""
    from genrenet.inference.tagging import Tagger
    from genrenet.pretrained.musicnn_weights import MissingWeightsError
    from genrenet.pretrained.tf_checkpoint import CheckpointError

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
    code = 2 if missing else 1  # a path that does not exist is a usage error (README)
    if failed and len(failed) == len(results):
        raise fail(f"no file could be {done}", code)
    if failed:
        raise typer.Exit(code)


def _missing_prediction(skipped: Skipped):
    from genrenet.inference.predictor import Prediction

    return Prediction(skipped.path, error=skipped.reason)


def _print_predictions(results) -> None:
    table = Table()
    table.add_column("file")
    table.add_column("labels (best first)")
    for r in results:
        if r.error:
            continue
        table.add_row(
            escape(str(r.path)),
            escape(", ".join(f"{t['label']} {t['score']:.0%}" for t in r.top)),
        )
        if r.timeline:
            for w in r.timeline:
                best = w["top"][0]
                table.add_row(
                    f"  {w['start']:7.1f}-{w['end']:.1f} s",
                    escape(f"{best['label']} {best['score']:.0%}"),
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
