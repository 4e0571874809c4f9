"""How ``extract`` and ``embed`` fill a cache: their inputs (a collection and ``--from-list``,
streamed), on this machine (threads) or on Ray, with the index of ``--out`` / ``--index``
written as tracks finish and resumed like ``predict``'s (tracks already in it are skipped)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from genrenet.cli.batch import LOCAL_CHUNK, CacheIndex
from genrenet.cli.common import (
    console,
    fail,
    open_or_fail,
    progress_bar,
    report_skipped,
    report_warnings,
)
from genrenet.data.tracks import Collection, Skipped


@dataclass
class CacheInputs:
    """The tracks of a command: a collection's (opened up front: a bad path is a usage error
    before any work starts), then a list file's, streamed."""

    collection: Collection | None
    from_list: Path | None
    _labels: dict[str, str] | None = field(default=None, init=False, repr=False)

    def __iter__(self) -> Iterator[Path | Skipped]:
        from genrenet.data.inputs import iter_inputs

        if self.collection is not None:
            yield from self.collection.skipped
            yield from (track.path for track in self.collection.tracks)
        if self.from_list is not None:
            yield from iter_inputs([], self.from_list)

    def label(self, path: Path) -> str:
        """The genre of a collection's track ("" for a listed file)."""
        if self.collection is None:
            return ""
        if self._labels is None:
            self._labels = {str(t.path): t.label for t in self.collection.tracks}
        return self._labels.get(str(path), "")


def cache_inputs(data: Path | None, from_list: Path | None) -> CacheInputs:
    """The inputs of ``extract`` / ``embed``, checked: at least one source, the collection
    opened (its warnings printed), the list file there."""
    if data is None and from_list is None:
        raise fail("give a collection (folder, CSV manifest) or --from-list FILE", 2)
    if from_list is not None and not from_list.is_file():
        raise fail(f"{from_list}: list file not found", 2)
    collection = None
    if data is not None:
        collection = open_or_fail(data)
        report_warnings(collection.warnings)
    return CacheInputs(collection, from_list)


@dataclass
class CacheRun:
    """What a fill did: tracks run (``total``, those already in a resumed index apart), counts,
    the failures with their reasons, and (when asked) the paths whose entries are ready, those
    already in the index included, in input order."""

    total: int = 0
    computed: int = 0
    cached: int = 0
    already: int = 0
    failed: list[Skipped] = field(default_factory=list)
    ready: list[Path] | None = None

    @property
    def ok(self) -> int:
        """Tracks whose entries this run made or found."""
        return self.computed + self.cached


def fill_cache(
    store: Any,
    inputs: Iterable[Path | Skipped],
    index: CacheIndex,
    verb: str,
    *,
    workers: int,
    ray_settings: Any = None,
    make_store: Callable[..., Any] | None = None,
    embed: bool = False,
    keep_ready: bool = False,
) -> CacheRun:
    """Make sure every input's entry is in ``store`` (``make_store`` rebuilds it in each Ray
    worker), writing the index as tracks finish; failures are collected, not raised."""
    run = CacheRun(ready=[] if keep_ready else None)
    done = index.writer.done if index.writer is not None else set()
    seen: dict[str, int] = {}  # input order; a track named twice (folder and list) runs once

    def pending() -> Iterator[Path]:
        try:
            for item in inputs:
                key = str(item.path if isinstance(item, Skipped) else item)
                if key in seen:
                    continue
                seen[key] = len(seen)
                if isinstance(item, Skipped):
                    run.failed.append(item)
                elif key in done:
                    run.already += 1
                    if run.ready is not None and Path(store.entry_path(item)).exists():
                        run.ready.append(Path(item))
                else:
                    yield Path(item)
        except (FileNotFoundError, ValueError) as err:
            raise fail(str(err), 2) from None

    try:
        with progress_bar(verb, None) as advance:
            write = index.on_done(advance)

            def finished(path: Path, status: str, error: str | None = None) -> None:
                write(path, status)
                if status == "computed":
                    run.computed += 1
                elif status == "cached":
                    run.cached += 1
                if status in ("computed", "cached") and run.ready is not None:
                    run.ready.append(path)
                if status == "failed" and error is not None:
                    run.failed.append(Skipped(path, error))

            if ray_settings is not None:
                from genrenet.engines.ray_cache import cache_records

                records = cache_records(
                    map(str, pending()), make_store, embed=embed, settings=ray_settings
                )
                for record in records:
                    finished(Path(record["path"]), record["status"], record["error"])
            else:
                stream = pending()
                while chunk := list(islice(stream, LOCAL_CHUNK)):
                    report = store.extract(chunk, workers=workers, on_done=finished)
                    run.failed.extend(report.failed)
    finally:
        index.close(run.failed)
    run.total = len(seen) - run.already
    if run.ready is not None:
        run.ready.sort(key=lambda path: seen[str(path)])
    return run


def report_run(run: CacheRun, what: str, folder: Path) -> None:
    """The summary line, the failures; exit 1 when some track failed (with a message when none
    is ready)."""
    line = f"{run.ok} of {run.total} tracks {what} in {folder}"
    line += f" ({run.computed} computed, {run.cached} from the cache)"
    if run.already:
        line += f"; {run.already} already in the index"
    console.print(escape(line), highlight=False, soft_wrap=True)
    report_skipped(run.failed)
    if not run.ok and not run.already:
        raise fail("no readable audio tracks found")
    if run.failed:
        raise typer.Exit(1)
