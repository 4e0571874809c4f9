"""How ``predict`` and ``tag`` go over their inputs: streamed from arguments and list files, on
the local engine or on Ray, into a table / JSON / CSV on stdout or, with ``--out``, into a
resumable JSON Lines or Parquet output written as files finish."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from genrenet.cli.common import console, errors, fail, progress_bar, report_skipped
from genrenet.data.inputs import NotFound
from genrenet.data.tracks import Skipped

LOCAL_CHUNK = 256
"""Paths handed to the local predictor at a time (it decodes a few ahead within a chunk)."""


@dataclass
class BatchJob:
    """One command's run: its inputs, how to predict locally (``local(paths)`` -> Predictions)
    and on Ray (``ray_load()`` builds the predictor in each actor, with ``options``)."""

    inputs: list[str]
    from_list: Path | None
    local: Callable[[list[Path]], Iterable[Any]]
    ray_load: Callable[[], Any]
    feature_config: Any
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchOutput:
    """Where results go and which engine makes them."""

    out: Path | None = None
    resume: bool = False
    engine: str = "local"
    ray_settings: Any = None
    as_json: bool = False
    as_csv: bool = False


def run_batch(job: BatchJob, output: BatchOutput, verb: str, done_word: str, show) -> None:
    """Run ``job`` and report; exit 1 when some file failed (with a message when all did).
    ``show(predictions)`` prints results when there is no ``--out``."""
    if not job.inputs and job.from_list is None:
        raise fail("give audio files, folders or patterns, or --from-list FILE", 2)
    if output.resume and output.out is None:
        raise fail("--resume needs --out", 2)
    if job.options.get("windows") and job.options.get("hop_seconds"):
        raise fail("choose one of --hop (every window, this far apart) and --windows", 2)
    writer = _open_writer(output)
    missing: list[Skipped] = []
    done = writer.done if writer is not None else set()
    already = [0]

    def pending() -> Iterator[Path]:
        try:
            for item in _inputs(job):
                if isinstance(item, Skipped):
                    missing.append(item)
                elif str(item) in done:
                    already[0] += 1
                else:
                    yield item
        except (FileNotFoundError, ValueError) as err:
            raise fail(str(err), 2) from None

    records = _engine_records(job, output, pending())
    failed: list[Skipped] = []
    kept: list[dict[str, Any]] = []
    written = 0
    try:
        with progress_bar(verb, None) as advance:
            for record in records:
                if record.get("error"):
                    failed.append(Skipped(Path(record["path"]), record["error"]))
                if writer is not None:
                    written += writer.write(record)
                else:
                    kept.append(record)
                advance()
        for item in missing:
            record = {"path": str(item.path), "top": [], "error": item.reason}
            failed.append(item)
            if writer is not None:
                written += writer.write(record)
            else:
                kept.append(record)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        show(kept)
    else:
        _summarize(writer, written, already[0], len(failed), done_word)
    if not output.as_json and not output.as_csv:
        _report_failed(failed)
    total = (written if writer is not None else len(kept)) + already[0]
    # a path that does not exist is a usage error (README); a bad file found in a folder is not
    code = 2 if any(isinstance(item, NotFound) for item in missing) else 1
    if failed and len(failed) == total:
        raise fail(f"no file could be {done_word}", code)
    if failed:
        raise typer.Exit(code)


def _inputs(job: BatchJob) -> Iterator[Path | Skipped]:
    from genrenet.data.inputs import iter_inputs

    return iter_inputs(job.inputs, job.from_list)


def _open_writer(output: BatchOutput):
    if output.out is None:
        return None
    from genrenet.inference.output import OutputError, open_output

    try:
        writer = open_output(output.out, resume=output.resume)
    except OutputError as err:
        raise fail(str(err), 2) from None
    if getattr(writer, "dropped_torn", False):
        errors.print(
            f"[yellow]note:[/] {output.out}: dropped a torn last record (an interrupted write)",
            highlight=False,
        )
    return writer


def _engine_records(job: BatchJob, output: BatchOutput, paths: Iterator[Path]):
    """Records from the chosen engine, as files finish."""
    if output.engine == "ray":
        from genrenet.engines.ray import predict_records

        return predict_records(
            paths,
            job.ray_load,
            job.feature_config,
            settings=output.ray_settings,
            **job.options,
        )
    if output.engine != "local":
        raise fail(f"--engine must be local or ray, got {output.engine!r}", 2)
    return _local_records(job, paths)


def engine_settings(
    engine: str, address: str | None, num_gpus: float = 0.0, actors: int | None = None
):
    """The :class:`~genrenet.engines.ray.RaySettings` of ``--engine ray`` (None for local),
    the options checked and Ray's presence too (its absence names the install; exit 2)."""
    if engine not in ("local", "ray"):
        raise fail(f"--engine must be local or ray, got {engine!r}", 2)
    if engine == "local":
        if address is not None or num_gpus or actors is not None:
            raise fail("--address, --num-gpus and --actors go with --engine ray", 2)
        return None
    from genrenet.engines.ray import RayMissingError, RaySettings, require_ray

    try:
        require_ray()
    except RayMissingError as err:
        raise fail(str(err), 2) from None
    return RaySettings(address=address, num_gpus=num_gpus, actors=actors)


def _local_records(job: BatchJob, paths: Iterator[Path]) -> Iterator[dict[str, Any]]:
    while chunk := list(islice(paths, LOCAL_CHUNK)):
        for prediction in job.local(chunk):
            yield prediction.to_dict()


def _summarize(writer, written: int, already: int, n_failed: int, done_word: str) -> None:
    parts = [f"{written} record(s) written to {writer.path}"]
    if already:
        parts.append(f"{already} already there")
    if n_failed:
        parts.append(f"{n_failed} could not be {done_word}")
    console.print(escape("; ".join(parts)), highlight=False, soft_wrap=True)


def _report_failed(failed: list[Skipped], most: int = 20) -> None:
    report_skipped(failed[:most], "failed")
    if len(failed) > most:
        errors.print(f"  ... and {len(failed) - most} more (see the output's error field)")


def predictions_of(records: list[dict[str, Any]]):
    """Records back to Predictions, for the table and CSV printers."""
    from genrenet.inference.predictor import Prediction

    return [
        Prediction(
            Path(r["path"]), top=r.get("top") or [], timeline=r.get("timeline"), error=r["error"]
        )
        for r in records
    ]


def print_json(records: list[dict[str, Any]]) -> None:
    """The ``--json`` output: one list of records."""
    print(json.dumps(records, indent=2))


class CacheIndex:
    """``--out`` of ``extract`` and ``embed``: one record per track naming its cache file (or
    its error), written as each track finishes (``on_done``), resumable like ``predict``'s."""

    def __init__(
        self, out: Path | None, resume: bool, entry_path, field: str, option: str = "--out"
    ) -> None:
        if resume and out is None:
            raise fail(f"--resume needs {option}", 2)
        self.writer = _open_writer(BatchOutput(out, resume))
        self.entry_path = entry_path
        self.field = field
        self.written = 0

    def on_done(self, advance):
        """Wrap a progress callback: also write the record of each track that is now cached."""

        def done(path: Path, status: str = "") -> None:
            advance()
            if self.writer is not None and status in ("cached", "computed"):
                record = {"path": str(path), self.field: str(self.entry_path(path)), "error": None}
                self.written += self.writer.write(record)

        return done

    def close(self, failed: list[Skipped]) -> None:
        """Write the failures (with their reasons) and flush; say where the index is."""
        if self.writer is None:
            return
        for item in failed:
            self.written += self.writer.write({"path": str(item.path), "error": item.reason})
        self.writer.close()
        console.print(
            escape(f"{self.written} record(s) written to {self.writer.path}"),
            highlight=False,
            soft_wrap=True,
        )
