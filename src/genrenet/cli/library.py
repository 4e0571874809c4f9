"""``genrenet retag``: genres into a music library's tags (dry run, write, undo, resume)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from genrenet.cli.common import (
    DEFAULT_WORKERS,
    DecodeWorkersOpt,
    console,
    errors,
    expand_inputs,
    fail,
    load_model_or_fail,
)

Mode = Enum("Mode", {m: m for m in ("fill", "replace", "append")}, type=str)


class _RateColumn(ProgressColumn):
    """Files per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} files/s" if speed else "- files/s")


@contextmanager
def _progress(description: str, total: int) -> Iterator:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _need_mutagen() -> None:
    try:
        import mutagen  # noqa: F401
    except ImportError:
        message = "genrenet retag needs mutagen: pip install 'genrenet[beets]'"
        raise fail(message, 2) from None


def retag(
    library: Annotated[
        list[str] | None, typer.Argument(help="Audio files, folders or glob patterns.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Model folder or bundled model name (default: gtzan-musicnn).")
    ] = "gtzan-musicnn",
    field: Annotated[str, typer.Option(help="Tag field to set.")] = "genre",
    top_k: Annotated[int, typer.Option(help="Write up to this many labels per file.")] = 1,
    min_score: Annotated[
        float, typer.Option(help="Write only labels scoring at least this (0-1).")
    ] = 0.5,
    mode: Annotated[
        Mode,
        typer.Option(help="fill: only empty fields; replace: overwrite; append: add to them."),
    ] = Mode.fill,
    template: Annotated[
        str,
        typer.Option("--format", help="How a label is written: {label}, {Label}, {score}, {rank}."),
    ] = "{label}",
    write: Annotated[
        bool, typer.Option("--write", help="Write the tags (without it: a dry run).")
    ] = False,
    journal: Annotated[
        Path | None,
        typer.Option(
            help="Journal of every change, for --undo (default: under "
            "~/.local/share/genrenet/journals)."
        ),
    ] = None,
    undo_journal: Annotated[
        Path | None,
        typer.Option("--undo", help="Restore every value this journal recorded, and stop."),
    ] = None,
    resume_journal: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the interrupted run of this journal."),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Dry run: save the plan here. With --write: apply this saved plan (files "
            "changed since are skipped) instead of predicting again.",
        ),
    ] = None,
    keep_mtime: Annotated[
        bool, typer.Option("--keep-mtime", help="Keep each file's modification time.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    workers: DecodeWorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Set the genre tag of music files from a model's predictions: a dry run by default,
    --write to write (journalled, undo with --undo JOURNAL)."""
    from genrenet.library import JournalError, RetagOptions

    _need_mutagen()
    chosen = [o for o in (undo_journal, resume_journal) if o is not None]
    if len(chosen) > 1:
        raise fail("choose one of --undo and --resume", 2)
    if chosen and library:
        raise fail("--undo and --resume take no LIBRARY: the journal says which files", 2)
    if not chosen and not library and plan_file is None:
        raise fail("give the files or folders to retag (or --undo / --resume JOURNAL)", 2)
    try:
        if undo_journal is not None:
            _undo(undo_journal, keep_mtime, as_json)
            return
        if resume_journal is not None:
            _resume(resume_journal, as_json, workers)
            return
        try:
            options = RetagOptions(field, top_k, min_score, mode.value, template, keep_mtime)
        except ValueError as err:
            raise fail(str(err), 2) from None
        if write and plan_file is not None and not library:
            _apply_plan(plan_file, journal, keep_mtime, as_json)
            return
        _run(library or [], model, options, write, journal, plan_file, as_json, workers)
    except JournalError as err:
        raise fail(str(err), 2) from None


def _run(
    inputs: list[str],
    model: str,
    options,
    write: bool,
    journal_path: Path | None,
    plan_file: Path | None,
    as_json: bool,
    workers: int,
    done: frozenset[Path] = frozenset(),
    journal=None,
) -> None:
    """Plan (and with ``write``, write) the files of ``inputs``; print; set the exit code."""
    from genrenet.library import Journal, plan, save_plan, write_entry
    from genrenet.library.journal import default_journal_path
    from genrenet.library.retag import absolute

    files, missing = expand_inputs(inputs)
    if not files and not missing:
        raise fail("no audio files found in the given inputs")
    clf = load_model_or_fail(model)
    if not as_json:
        errors.print(f"model: {escape(clf.describe())}", highlight=False)
    if write and journal is None:
        journal = Journal(journal_path or default_journal_path())
        # A model folder by its absolute path, so that --resume finds it from anywhere.
        model_ref = str(absolute(model)) if Path(model).exists() else model
        journal.start([str(absolute(i)) for i in inputs], options.to_dict(), model_ref)
    entries = [_missing_entry(m.path, m.reason) for m in missing]
    verb = "retagging" if write else "planning"
    with _progress(verb, len(files)) as advance:
        for entry in plan(files, clf, options, workers=workers, done=done):
            if write:
                write_entry(entry, options, journal, model)
            entries.append(entry)
            advance()
    if plan_file is not None and not write:
        save_plan(plan_file, entries, options, model)
    _report(entries, as_json, write, journal.path if journal else None, plan_file)


def _resume(journal_path: Path, as_json: bool, workers: int) -> None:
    """Continue a --write run from its journal: same inputs and options, files done skipped."""
    from genrenet.library import Journal, RetagOptions, finished_paths
    from genrenet.library.safe_write import remove_leftovers

    run, done = finished_paths(journal_path)
    options = RetagOptions.from_dict(run["options"])
    files, _ = expand_inputs(run["inputs"])
    removed = remove_leftovers([Path(f).absolute() for f in files])
    if removed and not as_json:
        errors.print(f"removed {len(removed)} copy(ies) an interrupted run left behind")
    with Journal(journal_path) as journal:
        _run(
            run["inputs"],
            run["model"],
            options,
            True,
            journal_path,
            None,
            as_json,
            workers,
            done=frozenset(done),
            journal=journal,
        )


def _apply_plan(plan_file: Path, journal_path: Path | None, keep_mtime: bool, as_json: bool):
    """Write what a saved dry run proposed; files changed since are left alone."""
    from dataclasses import replace

    from genrenet.library import Journal, load_plan, write_entry
    from genrenet.library.journal import default_journal_path

    options, model, entries = load_plan(plan_file)
    options = replace(options, keep_mtime=keep_mtime or options.keep_mtime)
    planned = [str(e.path) for e in entries if e.status == "write"]
    with Journal(journal_path or default_journal_path()) as journal:
        journal.start(planned, options.to_dict(), model)
        with _progress("retagging", len(entries)) as advance:
            for entry in entries:
                write_entry(entry, options, journal, model)
                advance()
        _report(entries, as_json, True, journal.path, None)


def _undo(journal_path: Path, keep_mtime: bool, as_json: bool) -> None:
    from genrenet.library import read_journal, undo

    _, records = read_journal(journal_path)
    entries = []
    with _progress("restoring", len({(r.path, r.field) for r in records})) as advance:
        for entry in undo(journal_path, keep_mtime=keep_mtime):
            entries.append(entry)
            advance()
    _report(entries, as_json, True, None, None, undoing=True)


def _missing_entry(path: Path, reason: str):
    from genrenet.library import Entry
    from genrenet.library.retag import MISSING

    return Entry(path).fail(MISSING, reason)


def _near(path: Path) -> str:
    """A path relative to the working folder when it lies below it, else as it is."""
    import os

    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _show(values) -> str:
    return "(none)" if values is None else "; ".join(values) or "(empty)"


def _report(
    entries: list,
    as_json: bool,
    write: bool,
    journal: Path | None,
    plan_file: Path | None,
    undoing: bool = False,
) -> None:
    """Table or JSON, the summary, and the exit code (1 if any file failed)."""
    from genrenet.library import summarize

    summary = summarize(entries)
    if as_json:
        data = {"entries": [e.to_dict() for e in entries], "summary": summary}
        if journal is not None:
            data["journal"] = str(journal)
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        shown = entries if not write else [e for e in entries if e.status != "written"]
        if shown:
            console.print(_table(shown, undoing))
        console.print(_summary_line(summary, write, undoing), highlight=False)
        if journal is not None:
            console.print(
                f"journal: {escape(str(journal))} (undo: genrenet retag --undo "
                f"{escape(str(journal))})",
                highlight=False,
                soft_wrap=True,
            )
        if plan_file is not None:
            console.print(
                f"plan saved to {escape(str(plan_file))} (apply: genrenet retag --write --plan "
                f"{escape(str(plan_file))})",
                highlight=False,
                soft_wrap=True,
            )
    if summary["failed"]:
        raise typer.Exit(1)


def _table(entries: Iterable, undoing: bool) -> Table:
    table = Table()
    table.add_column("file", overflow="fold")
    table.add_column("current")
    table.add_column("restore" if undoing else "proposed")
    if not undoing:
        table.add_column("score", justify="right")
    table.add_column("action")
    for e in entries:
        action = {"write": "write", "written": "written", "restored": "restored"}.get(e.status)
        if action is None:
            action = f"{'left alone' if e.status == 'left' else 'FAILED'}: {e.reason}"
            if e.detail:
                action += f" ({e.detail})"
        row = [escape(_near(e.path)), escape(_show(e.current)), escape(_show(e.proposed))]
        if not undoing:
            row.append("" if e.score is None else f"{e.score:.2f}")
        row.append(escape(action))
        table.add_row(*row)
    return table


def _summary_line(summary: dict, write: bool, undoing: bool) -> str:
    if undoing:
        head = f"{summary['restored']} restored"
    elif write:
        head = f"{summary['written']} written"
    else:
        head = f"{summary['write']} to write (dry run: nothing written; --write to write)"
    parts = [f"{summary['files']} files: {head}"]
    if summary["left"]:
        left = ", ".join(f"{n} {r}" for r, n in summary["left"].items())
        parts.append(f"{sum(summary['left'].values())} left alone ({left})")
    if summary["failed"]:
        failed = ", ".join(f"{n} {r}" for r, n in summary["failed"].items())
        parts.append(f"{sum(summary['failed'].values())} failed ({failed})")
    return escape("; ".join(parts))
