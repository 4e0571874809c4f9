"""What the command modules share: the consoles, error and skip reporting, the progress bar,
input expansion, model loading, and the option types and defaults used by several commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from genrenet.data.tracks import Collection, Skipped
from genrenet.features.config import FEATURE_KINDS
from genrenet.training.config import TrainConfig

console = Console()
errors = Console(stderr=True)


FeatureKind = Enum("FeatureKind", {kind: kind for kind in FEATURE_KINDS}, type=str)
"""Feature kinds offered on the command line: :data:`genrenet.features.FEATURE_KINDS`."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line (the message escaped: file names keep their brackets) and
    return the Exit to raise."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def open_or_fail(data: Path) -> Collection:
    """Open a collection, turning a bad path into one clear message (exit 2)."""
    from genrenet.data import open_collection

    try:
        return open_collection(data)
    except (FileNotFoundError, ValueError) as err:
        raise fail(str(err), 2) from None


def load_model_or_fail(model_dir: Path | str, runtime: str = "torch", device: str = "cpu"):
    """Load a saved classifier (folder or bundled name) to run on ``runtime`` and ``device``,
    turning any problem (a missing onnxruntime or GPU included) into one clear message
    (exit 2)."""
    from genrenet.classifier import BundleError, Classifier
    from genrenet.errors import GenrenetError
    from genrenet.pretrained.musicnn_weights import MissingWeightsError
    from genrenet.pretrained.tf_checkpoint import CheckpointError

    try:
        return Classifier.load(model_dir, runtime=runtime, device=device)
    except (BundleError, MissingWeightsError, CheckpointError, GenrenetError) as err:
        raise fail(str(err), 2) from None


Runtime = Enum("Runtime", {name: name for name in ("torch", "onnx")}, type=str)
"""What scores the windows: :data:`genrenet.inference.runtime.SHIPPED_RUNTIMES`."""
RuntimeOpt = Annotated[
    Runtime,
    typer.Option(
        help="torch, or onnx (ONNX Runtime, the same outputs within 1e-4; the graph is exported "
        "once and cached; needs pip install 'genrenet[onnx]')."
    ),
]


def report_skipped(skipped: list[Skipped], what: str = "skipped") -> None:
    """List each file that could not be used, with its reason."""
    if not skipped:
        return
    errors.print(f"[yellow]{len(skipped)} file(s) {what}:[/]", highlight=False)
    for item in skipped:
        errors.print(
            f"  {escape(str(item.path))}: {escape(item.reason)}", highlight=False, soft_wrap=True
        )


def report_warnings(warnings: list[str]) -> None:
    """Print the data source's warnings."""
    for warning in warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def report_notes(notes: list[str]) -> None:
    """Print notes about how a split or a cross-validation was made."""
    for note in notes:
        errors.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


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


def default_workers() -> int:
    """Parallel workers when not told: the CPU count, between 1 and 8."""
    return max(1, min(8, os.cpu_count() or 1))


DEFAULT_WORKERS = default_workers()


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[Skipped]]:
    """Files, folders (searched recursively for audio) and glob patterns to a list of files."""
    import glob

    from genrenet.data.tracks import is_audio_path

    files: list[Path] = []
    missing: list[Skipped] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if (p.is_file() or p.is_symlink()) and is_audio_path(p)
                )
            )
        elif path.exists() or path.is_symlink():
            files.append(path)
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                missing.append(Skipped(path, "the pattern matches no file"))
            files.extend(m for m in matches if m.is_file())
        else:
            missing.append(Skipped(path, "file not found"))
    return files, missing


def device_or_fail(device: str | None) -> str:
    """A ``--device`` value checked now (see :func:`genrenet.devices.resolve_device`): a
    misspelt name or a GPU that is not visible is one clear message (exit 2)."""
    from genrenet.devices import DeviceError, resolve_device

    try:
        return str(resolve_device(device))
    except DeviceError as err:
        raise fail(str(err), 2) from None


# Options of several commands.
DataArg = Annotated[Path, typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest.")]
OptionalDataArg = Annotated[
    Path | None,
    typer.Argument(help="Genre folders, GTZAN/FMA tree or CSV manifest (or use --from-list)."),
]
WorkersOpt = Annotated[int, typer.Option(help="Parallel workers.")]
CacheOpt = Annotated[Path | None, typer.Option(help="Feature cache folder.")]
StoreCacheOpt = Annotated[
    Path | None, typer.Option(help="Cache folder (default ~/.cache/genrenet).")
]
ExtractWorkersOpt = Annotated[int, typer.Option(help="Parallel workers for feature extraction.")]
DecodeWorkersOpt = Annotated[int, typer.Option(help="Threads decoding files ahead.")]
ClipsOpt = Annotated[int, typer.Option(help="Clips per genre.")]
SecondsOpt = Annotated[float, typer.Option(help="Seconds per clip.")]

# Options of train and cv, with their defaults: TrainConfig's own, written once there.
_TRAIN = TrainConfig()
DEFAULT_MODEL = _TRAIN.model
DEFAULT_EPOCHS = _TRAIN.max_epochs
DEFAULT_BATCH_SIZE = _TRAIN.batch_size
DEFAULT_OPTIMIZER = _TRAIN.optimizer
DEFAULT_WEIGHT_DECAY = _TRAIN.weight_decay
DEFAULT_CROP_SECONDS = _TRAIN.crop_seconds
DEFAULT_CROPS_PER_TRACK = _TRAIN.crops_per_track
DEFAULT_PATIENCE = _TRAIN.patience
DEFAULT_SEED = _TRAIN.seed
DEFAULT_AUGMENT = "none"
DEFAULT_DEVICES = _TRAIN.devices
DEFAULT_NUM_NODES = _TRAIN.num_nodes
DEFAULT_STRATEGY = _TRAIN.strategy
DEFAULT_ACCELERATOR = _TRAIN.accelerator

ModelOpt = Annotated[str, typer.Option(help="Architecture (see `genrenet models`).")]
FeaturesOpt = Annotated[
    FeatureKind | None,
    typer.Option(help="Feature kind (default logmel; musicnn models use their own)."),
]
EpochsOpt = Annotated[int, typer.Option(help="Most epochs (early stopping may end sooner).")]
BatchOpt = Annotated[int, typer.Option(help="Batch size.")]
LrOpt = Annotated[
    float | None,
    typer.Option(help="Learning rate (default 1e-3; 1e-4 when fine-tuning musicnn)."),
]
FreezeOpt = Annotated[
    str | None,
    typer.Option(
        help="musicnn models: 'all' (head on frozen embeddings), 'frontend' (fine-tune mid- "
        "and back-end) or 'none' (fine-tune everything). Same as --model-arg freeze=..."
    ),
]
HeadOpt = Annotated[
    str | None,
    typer.Option(
        help="musicnn models: logreg, svm, mlp (fitted on frozen embeddings with --freeze all) "
        "or dense (trained by gradient descent). Same as --model-arg head=..."
    ),
]
OptimizerOpt = Annotated[str, typer.Option(help="adam or adamw.")]
DecayOpt = Annotated[float, typer.Option(help="Weight decay.")]
CropOpt = Annotated[float, typer.Option(help="Seconds per training crop / patch.")]
CropsOpt = Annotated[int, typer.Option(help="Random crops per track per epoch.")]
PatienceOpt = Annotated[int, typer.Option(help="Early-stopping patience (epochs).")]
WeightsOpt = Annotated[bool, typer.Option(help="Weight classes by inverse frequency.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]
MinutesOpt = Annotated[float | None, typer.Option(help="Stop training after this long.")]
ModelArgOpt = Annotated[
    list[str] | None, typer.Option(help="Architecture option key=value (repeatable).")
]
AugmentOpt = Annotated[
    str,
    typer.Option(
        help="Augment training tracks: a comma list of pitch, stretch, noise, specaugment, "
        "mixup, or a .toml/.json file of settings; 'none' for no augmentation."
    ),
]

DevicesOpt = Annotated[
    int, typer.Option(min=1, help="Training processes (CPU) or GPUs per machine, with ddp.")
]
NumNodesOpt = Annotated[
    int, typer.Option(min=1, help="Machines, each started by torchrun or srun (with ddp).")
]
StrategyOpt = Annotated[
    str,
    typer.Option(
        help="auto (one process) or ddp (data parallel; the effective batch is batch-size x "
        "devices x num-nodes, see the README for the learning rate)."
    ),
]

Accelerator = Enum("Accelerator", {name: name for name in ("auto", "cpu", "gpu")}, type=str)
"""Where training runs: :data:`genrenet.devices.ACCELERATORS`."""
AcceleratorOpt = Annotated[
    Accelerator,
    typer.Option(
        help="auto (a GPU when PyTorch sees one, else the CPU), cpu, or gpu (an error when "
        "no CUDA device is visible)."
    ),
]

TRAINING_OPTIONS = {
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "epochs": "max_epochs",
    "crops_per_track": "crops_per_track",
    "patience": "patience",
    "class_weights": "class_weights",
    "seed": "seed",
    "max_minutes": "max_minutes",
    "devices": "devices",
    "num_nodes": "num_nodes",
    "strategy": "strategy",
    "accelerator": "accelerator",
}
"""Command-line option -> Classifier/TrainConfig setting, for train and cv."""


def _parse_model_args(pairs: list[str]) -> dict:
    """``key=value`` strings to a dict, values parsed as JSON where they parse (numbers, bools)."""
    import json

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--model-arg expects key=value, got {pair!r}", 2)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def build_classifier(options: dict):
    """A Classifier from a command's options; bad values become one clear message (exit 2)."""
    from genrenet.classifier import Classifier
    from genrenet.devices import DeviceError, check_accelerator

    settings = {key: options[name] for name, key in TRAINING_OPTIONS.items()}
    settings["accelerator"] = Accelerator(settings["accelerator"]).value
    try:
        check_accelerator(settings["accelerator"])  # before any feature is extracted
    except DeviceError as err:
        raise fail(str(err), 2) from None
    model_kwargs = _parse_model_args(options["model_arg"] or [])
    for name in ("freeze", "head"):
        if options.get(name) is not None:
            model_kwargs[name] = options[name]
    try:
        clf = Classifier(
            model=options["model"],
            features=options["features"].value if options["features"] else None,
            crop_seconds=options["crop_seconds"],
            model_kwargs=model_kwargs,
            augment=options["augment"],
            **settings,
        )
        clf.train_config  # noqa: B018 - resolves and checks the settings together, now
        return clf
    except (ValueError, TypeError) as err:
        raise fail(str(err), 2) from None


# Options of the batch commands (predict, tag): library-scale input, output and engines.
FromListOpt = Annotated[
    Path | None,
    typer.Option(
        "--from-list",
        help="Also run on the files listed in this file: one path a line, or a CSV with a "
        "'path' column (paths relative to the CSV). Read as it goes: any length.",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write one record per file to a .jsonl file or a .parquet folder of shards, as "
        "files finish (nothing printed but a summary).",
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(help="Continue an interrupted --out: skip the files already in it."),
]
WindowsOpt = Annotated[
    int | None,
    typer.Option(
        min=1, help="Score only this many windows, spread evenly over each song (default: all)."
    ),
]
EngineOpt = Annotated[
    str, typer.Option(help="local (this process) or ray (a Ray cluster, or a local Ray).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="--engine ray: the cluster (auto, ray://HOST:PORT); default a local Ray."),
]
NumGpusOpt = Annotated[
    float, typer.Option(help="--engine ray: GPUs per model actor (the actors then run on cuda).")
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        help="Where the network runs: cpu (default), cuda, cuda:N, or auto (cuda when PyTorch "
        "sees a GPU). Features are computed on the CPU. With --engine ray, --num-gpus decides."
    ),
]
ActorsOpt = Annotated[
    int | None,
    typer.Option(min=1, help="--engine ray: model actors (default one per 4 CPUs or per GPU)."),
]
