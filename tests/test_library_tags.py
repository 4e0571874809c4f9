"""genrenet retag round trips on every tag format: dry run, write, read back, undo, read back,
with the decoded audio and every other tag (pictures included) equal throughout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("mutagen")

from genrenet.cli import app  # noqa: E402
from genrenet.data.gtzan import GTZAN_GENRES  # noqa: E402
from genrenet.library import TagError, TagFile  # noqa: E402
from tests.library_media import (  # noqa: E402
    FORMATS,
    audio_checksum,
    make_file,
    other_tags,
    tag_snapshot,
    tiny_model,
)

runner = CliRunner()
CASES = [(fmt, tagged) for fmt in FORMATS for tagged in (False, True)]
OLD = ["Old Genre", "Second Old"]


def _invoke(*args) -> object:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def trip(model, tmp_path_factory) -> dict:
    """Every format, bare and pre-tagged, through dry run, write, undo and a second undo."""
    folder = tmp_path_factory.mktemp("library")
    files = {
        (fmt, tagged): make_file(
            folder, f"{fmt}-{'tagged' if tagged else 'bare'}", fmt, OLD if tagged else None, seed=i
        )
        for i, (fmt, tagged) in enumerate(CASES)
    }

    def snap() -> dict:
        return {
            case: {
                "bytes": p.read_bytes(),
                "tags": tag_snapshot(p),
                "audio": audio_checksum(p),
                "genre": TagFile(p).get("genre"),
            }
            for case, p in files.items()
        }

    journal = folder.parent / "journal.jsonl"
    states = {"before": snap()}
    dry = _invoke("retag", folder, "--model", model, "--min-score", "0", "--json")
    states["dry"] = snap()
    written = _invoke(
        "retag", folder, "--model", model, "--write", "--mode", "replace", "--min-score", "0",
        "--top-k", "2", "--journal", journal, "--json",
    )  # fmt: skip
    states["written"] = snap()
    _invoke("retag", "--undo", journal)
    states["undone"] = snap()
    again = _invoke("retag", "--undo", journal, "--json")
    states["undone twice"] = snap()
    by_path = {Path(e["path"]).name: e for e in json.loads(written.stdout)["entries"]}
    return {
        "files": files,
        "states": states,
        "dry": json.loads(dry.stdout),
        "written": {case: by_path[p.name] for case, p in files.items()},
        "again": json.loads(again.stdout),
    }


@pytest.mark.parametrize(("fmt", "tagged"), CASES)
def test_dry_run_changes_no_byte(trip, fmt, tagged):
    case = (fmt, tagged)
    assert trip["states"]["dry"][case]["bytes"] == trip["states"]["before"][case]["bytes"]
    entry = next(e for e in trip["dry"]["entries"] if e["path"] == str(trip["files"][case]))
    # Default fill mode: a pre-tagged file is left alone, a bare one would be written.
    assert entry["status"] == ("left" if tagged else "write")


@pytest.mark.parametrize(("fmt", "tagged"), CASES)
def test_write_sets_the_genre_and_keeps_the_rest(trip, fmt, tagged):
    case = (fmt, tagged)
    before, after = trip["states"]["before"][case], trip["states"]["written"][case]
    entry = trip["written"][case]
    assert entry["status"] == "written"
    labels = [t["label"] for t in entry["top"][:2]]
    genre = after["genre"]
    # ID3v2.3 holds several values in one frame joined by "/"; the others one value each.
    assert genre == (["/".join(labels)] if fmt == "mp3v23" else labels)
    assert genre == entry["proposed"]
    assert set(labels) <= set(GTZAN_GENRES)
    assert after["audio"] == before["audio"]
    assert other_tags(after["tags"]) == other_tags(before["tags"])
    assert other_tags(after["tags"])  # titles, artists, pictures were there to keep


@pytest.mark.parametrize(("fmt", "tagged"), CASES)
def test_undo_restores_every_tag_and_undo_again_changes_nothing(trip, fmt, tagged):
    case = (fmt, tagged)
    before, undone = trip["states"]["before"][case], trip["states"]["undone"][case]
    assert undone["tags"] == before["tags"]
    assert undone["audio"] == before["audio"]
    old = (["/".join(OLD)] if fmt == "mp3v23" else OLD) if tagged else None
    assert undone["genre"] == old
    assert trip["states"]["undone twice"][case]["bytes"] == undone["bytes"]
    assert trip["again"]["summary"]["restored"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_custom_field_round_trips_and_is_removed(tmp_path, fmt):
    path = make_file(tmp_path, "song", fmt, ["Jazz"])
    before = tag_snapshot(path)
    tags = TagFile(path)
    assert tags.get("genrenet") is None
    tags.set("genrenet", ["blues", "rock"])
    tags.save()
    expected = ["blues/rock"] if fmt == "mp3v23" else ["blues", "rock"]
    assert TagFile(path).get("genrenet") == expected
    assert TagFile(path).get("genre") == ["Jazz"]
    tags = TagFile(path)
    tags.set("genrenet", None)
    tags.save()
    assert TagFile(path).get("genrenet") is None
    assert tag_snapshot(path) == before


def test_a_file_mutagen_cannot_read_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio at all\n" * 50)
    with pytest.raises(TagError, match="notes.mp3"):
        TagFile(bad)
    (tmp_path / "raw.au").write_bytes(b".snd" + bytes(60))
    with pytest.raises(TagError, match="raw.au"):
        TagFile(tmp_path / "raw.au")
