"""The demo as a plain function: a synthetic collection, a model trained and evaluated on it,
predictions for held-out clips, then the bundled GTZAN model on a few clips and your own files.

``genrenet demo`` is a thin wrapper over :func:`run_demo`::

    from genrenet.demo import run_demo

    result = run_demo(Path("demo-output"))
    print(f"{result.accuracy:.1%}")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genrenet.classifier import Classifier
    from genrenet.evaluation.metrics import EvaluationResult
    from genrenet.inference.predictor import Prediction

DEMO_TRAINING = {
    "crop_seconds": 3.0,
    "batch_size": 32,
    "crops_per_track": 4,
    "lr": 2e-3,
    "patience": 8,
}
"""Training settings of ``genrenet demo`` (with at most 15 epochs): about 3.5 minutes in all on
2 idle CPU cores, 96.9-100% held-out track accuracy."""

BUNDLED_MODEL = "gtzan-musicnn"

_STOPPED = {
    "early_stopping": "early stopping",
    "max_epochs": "the epoch limit",
    "max_minutes": "the time limit",
    "interrupted": "interrupted",
}


class DemoReporter:
    """How :func:`run_demo` shows what it does: step headings, lines, tables, progress.

    This one writes plain text through ``log``; the command line renders the same with Rich.
    """

    live_training = False
    """Whether training draws its own progress bar."""

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log

    def step(self, title: str) -> None:
        self.log(f"--- {title} ---")

    def line(self, text: str) -> None:
        self.log(text)

    def warning(self, text: str) -> None:
        self.log(text)

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        title: str | None = None,
        right: Sequence[str] = (),
    ) -> None:
        """A table; the columns named in ``right`` are right-aligned."""
        widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

        def fmt(cells: Sequence[str]) -> str:
            return "  ".join(
                cell.rjust(w) if name in right else cell.ljust(w)
                for cell, w, name in zip(cells, widths, columns, strict=True)
            ).rstrip()

        if title:
            self.log(title)
        for cells in (columns, *rows):
            self.log(fmt(cells))

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[..., None]]:
        """Yields ``advance(*_)``, called once per item done; this one shows nothing."""
        yield lambda *_: None


@dataclass
class DemoResult:
    """What the demo made and found."""

    data: Path
    """The synthetic collection."""
    run_dir: Path
    """The training run: model, metrics.json, plots, split.json."""
    classifier: Classifier
    """The trained :class:`genrenet.classifier.Classifier`."""
    evaluation: EvaluationResult
    """Its :class:`genrenet.evaluation.EvaluationResult` on the held-out tracks."""
    examples: list[Prediction] = field(default_factory=list)
    """Its predictions for one held-out clip per genre (the true genre is the folder name)."""
    bundled: list[Prediction] = field(default_factory=list)
    """The bundled model's predictions: synthetic clips of GTZAN genres, then your files."""
    bundled_skipped: str | None = None
    """Why the bundled model did not run, when it did not."""

    @property
    def accuracy(self) -> float:
        """Held-out track accuracy of the trained model."""
        return self.evaluation.track["accuracy"]

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"


def run_demo(
    out: Path = Path("demo-output"),
    *,
    model: str = "resnet",
    genres: int = 8,
    clips: int = 40,
    seconds: float = 10.0,
    epochs: int = 15,
    max_minutes: float | None = None,
    seed: int = 0,
    workers: int = 2,
    yours: Path = Path("my-music"),
    log: Callable[[str], None] = print,
    reporter: DemoReporter | None = None,
) -> DemoResult:
    """Generate (or reuse) a synthetic collection under ``out``, extract features, train
    ``model``, evaluate it on held-out tracks, predict a few held-out clips, then let the bundled
    GTZAN model classify a few clips and the audio files in ``yours``.

    Training is bounded by ``epochs`` and early stopping, not by the clock, so the result does
    not depend on how fast or busy the machine is; ``max_minutes`` adds a time limit (the run
    folder and its report then say when it cut training short).

    Progress goes to ``reporter`` (default: plain text through ``log``).
    """
    from genrenet.classifier import Classifier
    from genrenet.data.synth import generate_collection
    from genrenet.evaluation.metrics import SUMMARY_HEADER

    show = reporter or DemoReporter(log)
    out, yours = Path(out), Path(yours)
    data = out / "synthetic"
    run_dir = out / "run"
    show.step("1/5  a synthetic collection (made-up genres, not real music)")
    expected = genres * clips
    existing = sum(1 for _ in data.glob("*/*.wav")) if data.exists() else 0
    if existing != expected:
        with show.progress("synthesising", expected) as advance:
            generate_collection(
                data,
                n_genres=genres,
                clips_per_genre=clips,
                seconds=seconds,
                seed=seed,
                progress=advance,
            )
    show.line(f"{expected} clips of {seconds:g} s in {genres} genres: {data}")
    show.step(f"2/5  features and 3/5 training {model}")
    clf = Classifier(
        model=model, **DEMO_TRAINING, max_epochs=epochs, max_minutes=max_minutes, seed=seed
    )
    with show.progress("extracting features", expected) as advance:
        outcome = clf.fit(
            data,
            out_dir=run_dir,
            cache=out / "cache",
            workers=workers,
            progress=show.live_training,
            on_extract=advance,
        ).outcome_
    show.table(
        SUMMARY_HEADER,
        outcome.evaluation.summary_rows(),
        title=f"held-out synthetic test tracks ({outcome.split.method})",
        right=[name for name in SUMMARY_HEADER if name != "metric"],
    )
    meta = clf.metadata
    stopped = _STOPPED.get(meta.get("stopped_by"), str(meta.get("stopped_by")))
    show.line(
        f"trained {meta.get('epochs_run')} epochs ({stopped}); kept epoch {meta.get('best_epoch')}"
        " (lowest validation loss)"
    )
    if meta.get("stopped_by") == "max_minutes":
        show.warning(
            f"training was cut short by the time limit ({max_minutes:g} min): the accuracy "
            "below depends on how fast this machine is; run without --max-minutes for the demo "
            "as designed"
        )
    show.line(f"report (metrics.json, confusion matrix, curves, per-genre accuracy): {run_dir}")
    result = DemoResult(data, run_dir, clf, outcome.evaluation)
    show.step("4/5  predictions for a few held-out files")
    tracks = [data / p for p in _held_out_examples(run_dir / "split.json", genres)]
    rows = []
    for path in tracks:
        pred = clf.predict_file(path, top_k=3)
        result.examples.append(pred)
        rows.append((path.name, path.parent.name, _best_first(pred.top)))
    show.table(("file", "true genre", "predicted (best first)"), rows)
    show.line(f"held-out track accuracy: {result.accuracy:.1%}  (model: {result.model_dir})")
    show.step("5/5  the bundled GTZAN genre model (musicnn, no training) on a few files")
    _demo_bundled_model(result, yours, workers, show)
    return result


def _demo_bundled_model(result: DemoResult, yours: Path, workers: int, show: DemoReporter) -> None:
    """Classify synthetic clips of genres GTZAN also has, and the user's files, with the
    bundled model, saying plainly which model answered."""
    from genrenet.classifier import BundleError, Classifier
    from genrenet.data.tracks import is_audio_path
    from genrenet.pretrained.musicnn_weights import MissingWeightsError

    try:
        clf = Classifier.load(BUNDLED_MODEL)
    except (BundleError, MissingWeightsError) as err:
        result.bundled_skipped = str(err)
        show.warning(f"skipped: {err}")
        return
    show.line(f"model: {clf.describe()}")
    examples = [result.data / p for p in _held_out_examples(result.run_dir / "split.json", 100)]
    files = [p for p in examples if p.parent.name in clf.labels][:4]
    own: list[Path] = []
    if yours.is_dir():
        own = sorted(p for p in yours.rglob("*") if p.is_file() and is_audio_path(p))
    rows = []
    for pred in clf.predict_files(files + own, workers=workers):
        result.bundled.append(pred)
        path = pred.path
        truth = f"synthetic {path.parent.name}" if path in files else "your file"
        rows.append((path.name, truth, pred.error or _best_first(pred.top)))
    show.table(("file", "what it is", f"{BUNDLED_MODEL} says (best first)"), rows)
    show.line(
        "The synthetic clips are not real music, so the GTZAN model may well disagree with "
        "their made-up genre names."
        + ("" if own else f" Put your own songs in {yours}/ to have them classified here.")
    )


def _best_first(top: list[dict]) -> str:
    return ", ".join(f"{t['label']} {t['score']:.0%}" for t in top)


def _held_out_examples(split_file: Path, n: int) -> list[str]:
    """One test track per genre (source ids are paths relative to the collection)."""
    test = json.loads(split_file.read_text())["test"]
    seen: dict[str, str] = {}
    for track_id in test:
        seen.setdefault(Path(track_id).parts[0], track_id)
    return list(seen.values())[:n]
