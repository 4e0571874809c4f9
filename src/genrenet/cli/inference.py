"""Commands that run pretrained or trained models on audio: ``predict``, ``tag`` and ``embed``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrenet.cli.batch import (
    BatchJob,
    BatchOutput,
    CacheIndex,
    engine_settings,
    predictions_of,
    print_json,
    run_batch,
)
from genrenet.cli.common import (
    DEFAULT_WORKERS,
    ActorsOpt,
    AddressOpt,
    DecodeWorkersOpt,
    DeviceOpt,
    EngineOpt,
    FromListOpt,
    NumGpusOpt,
    OptionalDataArg,
    OutOpt,
    ResumeOpt,
    Runtime,
    RuntimeOpt,
    StoreCacheOpt,
    WindowsOpt,
    WorkersOpt,
    console,
    device_or_fail,
    errors,
    fail,
    load_model_or_fail,
)

InputsArg = Annotated[
    list[str] | None, typer.Argument(help="Audio files, folders or glob patterns.")
]
TopKHelp = "How many {} to list per file."
HopOpt = Annotated[
    float | None,
    typer.Option(help="Seconds between windows (default: the patch length, no overlap)."),
]
TimelineOpt = Annotated[bool, typer.Option(help="Also give the labels of each window.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV on stdout.")]


def embed(
    data: OptionalDataArg = None,
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
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="Also write a .jsonl / .parquet index, one record per track naming its cache "
            "file, as tracks finish (resumable with --resume).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted --index: skip the tracks in it.")
    ] = False,
    from_list: FromListOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    num_gpus: NumGpusOpt = 0.0,
    actors: ActorsOpt = None,
    device: DeviceOpt = None,
) -> None:
    """musicnn embeddings of every track, per 3 s window, kept in the feature store."""
    from functools import partial

    from genrenet.cli.caching import cache_inputs, fill_cache, report_run
    from genrenet.data.tracks import Track
    from genrenet.pretrained.embeddings import EmbeddingStore
    from genrenet.pretrained.musicnn_weights import MissingWeightsError

    if tagger not in ("msd", "mtt"):
        raise fail(f"--tagger must be msd or mtt, got {tagger!r}", 2)
    if out is not None and out.suffix != ".npz":
        raise fail(f"{out}: --out must name an .npz file", 2)
    settings = engine_settings(engine, address, num_gpus, actors)
    if settings is not None and device is not None:
        raise fail("--device goes with the local engine; with --engine ray, --num-gpus decides", 2)
    where = device_or_fail(device)
    inputs = cache_inputs(data, from_list)
    store = EmbeddingStore(tagger, cache, device=where)
    cache_index = CacheIndex(index, resume, store.entry_path, "embeddings", "--index")
    try:
        if settings is not None:
            store.network()  # missing weights: one message here, not a failing actor per node
        run = fill_cache(
            store,
            inputs,
            cache_index,
            f"embedding with {tagger.upper()}_musicnn",
            workers=workers,
            ray_settings=settings,
            make_store=partial(EmbeddingStore, tagger, store.features.root.absolute()),
            embed=True,
            keep_ready=out is not None,
        )
    except MissingWeightsError as err:
        raise fail(str(err), 2) from None
    if out is not None and run.ready:
        from genrenet.pretrained.embeddings import write_npz

        tracks = [Track(p, inputs.label(p)) for p in run.ready]
        write_npz(out, store, tracks)
        console.print(f"embeddings of {len(tracks)} tracks written to {escape(str(out))}")
    report_run(run, "embedded", store.folder)


def predict(
    inputs: InputsArg = None,
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
    from_list: FromListOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    windows: WindowsOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    num_gpus: NumGpusOpt = 0.0,
    actors: ActorsOpt = None,
    runtime: RuntimeOpt = Runtime.torch,
    device: DeviceOpt = None,
) -> None:
    """Genres of songs of any length: windows over the whole song, probabilities averaged."""
    from functools import partial

    from genrenet.classifier import Classifier

    _check_output_options(as_json, as_csv, hop)
    here, workers_device = _devices(device, engine, num_gpus)
    clf = load_model_or_fail(model, Runtime(runtime).value, here)
    if not as_json and not as_csv:
        errors.print(f"model: {escape(clf.describe())}")
    options = {"top_k": top_k, "hop_seconds": hop, "timeline": timeline, "windows": windows}

    def run(files: list[Path]):
        return clf.predict_files(files, workers=workers, **options)

    local_model = Path(model)
    where = str(local_model.resolve()) if local_model.exists() else model
    load = partial(Classifier.load, where, device=workers_device)
    job = BatchJob(inputs or [], from_list, run, load, clf.feature_config)
    job.options = options
    output = _batch_output(out, resume, engine, address, num_gpus, actors, as_json, as_csv)
    run_batch(job, output, "predicting", "classified", _shower(as_json, as_csv, timeline))


def tag(
    inputs: InputsArg = None,
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
    from_list: FromListOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    windows: WindowsOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    num_gpus: NumGpusOpt = 0.0,
    actors: ActorsOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Music tags of whole songs with the pretrained musicnn: 3 s patches, averaged."""
    from functools import partial

    from genrenet.inference.tagging import Tagger
    from genrenet.pretrained.musicnn_weights import MissingWeightsError
    from genrenet.pretrained.tf_checkpoint import CheckpointError

    _check_output_options(as_json, as_csv, hop)
    if top_k < 1:
        raise fail("--top-k must be at least 1", 2)
    here, workers_device = _devices(device, engine, num_gpus)
    try:
        model = Tagger(tagger, architecture, here)
    except (MissingWeightsError, CheckpointError) as err:
        raise fail(str(err), 2) from None
    except ValueError as err:
        raise fail(str(err), 2) from None
    if not as_json and not as_csv:
        errors.print(f"model: {model.model_name} (musicnn 0.1.0 weights, {tagger.upper()} tags)")

    options = {"top_k": top_k, "hop_seconds": hop, "timeline": timeline, "windows": windows}

    def run(files: list[Path]):
        return model.tag_files(files, workers=workers, **options)

    load = partial(Tagger, tagger, architecture, workers_device)
    job = BatchJob(inputs or [], from_list, run, load, model.feature_config, options)
    output = _batch_output(out, resume, engine, address, num_gpus, actors, as_json, as_csv)
    run_batch(job, output, "tagging", "tagged", _shower(as_json, as_csv, timeline))


def _devices(device: str | None, engine: str, num_gpus: float) -> tuple[str, str]:
    """Where the model runs in this process, and in the Ray actors: ``--device`` (default cpu)
    locally; with ``--engine ray`` the driver keeps the CPU and the actors use cuda exactly
    when ``--num-gpus`` gives them GPUs."""
    if engine != "ray":
        where = device_or_fail(device)
        return where, where
    wanted = (device or "").lower()
    if num_gpus and wanted and not wanted.startswith(("cuda", "auto")):
        raise fail(f"--num-gpus {num_gpus:g} gives each actor a GPU: leave --device out", 2)
    if not num_gpus and wanted.startswith("cuda"):
        raise fail(f"--device {device} with --engine ray needs --num-gpus (GPUs per actor)", 2)
    if wanted and not wanted.startswith(("cuda", "auto", "cpu")):
        device_or_fail(device)  # the same message as the local engine's for a bad name
    return "cpu", "cuda" if num_gpus else "cpu"


def _check_output_options(as_json: bool, as_csv: bool, hop: float | None) -> None:
    if as_json and as_csv:
        raise fail("choose one of --json and --csv", 2)
    if hop is not None and hop <= 0:
        raise fail("--hop must be positive", 2)


def _batch_output(out, resume, engine, address, num_gpus, actors, as_json, as_csv) -> BatchOutput:
    """The output and engine settings of a batch command, checked."""
    settings = engine_settings(engine, address, num_gpus, actors)
    return BatchOutput(out, resume, engine, settings, as_json, as_csv)


def _shower(as_json: bool, as_csv: bool, timeline: bool):
    """How results are printed when there is no --out."""

    def show(records: list[dict]) -> None:
        if as_json:
            print_json(records)
        elif as_csv:
            _print_csv(predictions_of(records), timeline)
        else:
            _print_predictions(predictions_of(records))

    return show


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
