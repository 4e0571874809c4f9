"""genrenet retag's safety: modes and thresholds, permissions and times kept, files changed since
the dry run skipped, failures reported, and kill -9 at random points during --write leaving
every file whole, then --resume finishing and --undo restoring everything."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

pytest.importorskip("mutagen")

from genrenet.cli import app  # noqa: E402
from genrenet.data.gtzan import GTZAN_GENRES  # noqa: E402
from genrenet.library import TagFile, read_journal  # noqa: E402
from genrenet.library.retag import UNSUPPORTED, RetagOptions, propose  # noqa: E402
from tests.library_media import audio_checksum, make_file, tag_snapshot, tiny_model  # noqa: E402

runner = CliRunner()
GENRENET = [sys.executable, "-m", "genrenet.cli"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


def retag(*args, code: int = 0) -> dict:
    """Run ``genrenet retag ... --json`` in process; returns the JSON."""
    result = runner.invoke(app, ["retag", *map(str, args), "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def by_name(report: dict) -> dict[str, dict]:
    return {Path(e["path"]).name: e for e in report["entries"]}


def test_propose_modes_threshold_and_format():
    top = [{"label": "rock", "score": 0.7}, {"label": "blues", "score": 0.2}]
    fill = RetagOptions(min_score=0.5)
    assert propose(None, top, fill)[0] == ["rock"]
    assert propose(["Jazz"], top, fill)[2] == "already tagged in fill mode"
    assert propose(["Jazz"], top, RetagOptions(mode="replace"))[0] == ["rock"]
    assert propose(["Jazz"], top, RetagOptions(mode="append"))[0] == ["Jazz", "rock"]
    assert propose(["Rock"], top, RetagOptions(mode="append"))[2] == "already has this value"
    assert propose(None, top, RetagOptions(min_score=0.8))[2] == "below the score threshold"
    two = RetagOptions(top_k=2, min_score=0.1, template="{Label} ({score:.0%})")
    assert propose(None, top, two)[0] == ["Rock (70%)", "Blues (20%)"]
    with pytest.raises(ValueError, match="format"):
        RetagOptions(template="{genre}")
    with pytest.raises(ValueError, match="mode"):
        RetagOptions(mode="overwrite")


def test_fill_mode_threshold_and_failures_are_reported(model, tmp_path):
    make_file(tmp_path, "bare", "flac")
    make_file(tmp_path, "tagged", "mp3", ["Jazz"])
    (tmp_path / "broken.ogg").write_bytes(b"OggS" + bytes(100))
    sf.write(tmp_path / "untaggable.caf", np.zeros(22050, np.float32), 22050, format="CAF")
    report = retag(tmp_path, "--model", model, "--write", "--min-score", "0", code=1)
    entries = by_name(report)
    assert entries["bare.flac"]["status"] == "written"
    assert entries["tagged.mp3"]["reason"] == "already tagged in fill mode"
    assert entries["broken.ogg"]["status"] == "failed"
    assert entries["untaggable.caf"]["reason"] == UNSUPPORTED
    assert report["summary"]["failed"] == {"unreadable": 1}
    assert TagFile(tmp_path / "tagged.mp3").get("genre") == ["Jazz"]
    high = retag(tmp_path, "--model", model, "--mode", "replace", "--min-score", "0.99", code=1)
    reasons = {e["reason"] for e in high["entries"]}
    assert reasons == {"below the score threshold", "unreadable", UNSUPPORTED}


def test_permissions_and_mtime(model, tmp_path):
    kept = make_file(tmp_path, "kept", "flac")
    touched = make_file(tmp_path, "touched", "m4a")
    for path in (kept, touched):
        path.chmod(0o640)
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    retag(kept, "--model", model, "--write", "--min-score", "0", "--keep-mtime")
    retag(touched, "--model", model, "--write", "--min-score", "0")
    for path in (kept, touched):
        assert TagFile(path).get("genre")[0] in GTZAN_GENRES
        assert path.stat().st_mode & 0o777 == 0o640
    assert kept.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert touched.stat().st_mtime_ns > 1_000_000_000_000_000_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no copies left


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_read_only_files_are_left_alone(model, tmp_path):
    locked = make_file(tmp_path, "locked", "flac")
    locked.chmod(0o444)
    before = locked.read_bytes()
    report = retag(tmp_path, "--model", model, "--write", "--min-score", "0")
    assert by_name(report)["locked.flac"]["reason"] == "read-only"
    assert locked.read_bytes() == before


def test_a_saved_plan_skips_files_changed_since(model, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    same = make_file(music, "same", "flac")
    edited = make_file(music, "edited", "ogg")
    plan = tmp_path / "plan.json"
    retag(music, "--model", model, "--min-score", "0", "--plan", plan)
    tags = TagFile(edited)
    tags.set("title", ["renamed by the user"])
    tags.save()
    before = edited.read_bytes()
    report = retag("--write", "--plan", plan, "--journal", tmp_path / "j.jsonl")
    entries = by_name(report)
    assert entries["same.flac"]["status"] == "written"
    assert entries["edited.ogg"]["reason"] == "changed since the dry run"
    assert edited.read_bytes() == before
    planned = json.loads(plan.read_text())["entries"]
    assert (
        TagFile(same).get("genre") == next(e for e in planned if e["path"] == str(same))["proposed"]
    )


def test_undo_leaves_a_value_the_user_changed_since(model, tmp_path):
    mine = make_file(tmp_path, "mine", "mp3")
    other = make_file(tmp_path, "other", "wav", ["Ska"])
    journal = tmp_path.parent / f"{tmp_path.name}.jsonl"
    retag(tmp_path, "--model", model, "--write", "--mode", "replace", "--min-score", "0",
          "--journal", journal)  # fmt: skip
    tags = TagFile(mine)
    tags.set("genre", ["Chosen By Hand"])
    tags.save()
    report = by_name(retag("--undo", journal))
    assert report["mine.mp3"]["reason"] == "changed since retag wrote it"
    assert TagFile(mine).get("genre") == ["Chosen By Hand"]
    assert report["other.wav"]["status"] == "restored"
    assert TagFile(other).get("genre") == ["Ska"]


def test_a_journal_cut_short_by_a_crash_still_reads(tmp_path):
    journal = tmp_path / "j.jsonl"
    record = {"kind": "write", "path": "/x.flac", "field": "genre", "old": None, "new": ["rock"]}
    journal.write_text(json.dumps({**record, "time": 1.0}) + "\n" + '{"kind": "write", "pa')
    _, records = read_journal(journal)
    assert [r.path for r in records] == [Path("/x.flac")]


def test_without_mutagen_it_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mutagen", None)
    result = runner.invoke(app, ["retag", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'genrenet[beets]'" in result.output


def _run_until_killed(args: list[str], journal: Path, after_records: int) -> int | None:
    """Start ``genrenet retag`` and kill -9 it once the journal holds ``after_records`` write
    records (plus a random few milliseconds); returns its exit code if it ended first."""
    proc = subprocess.Popen(
        [*GENRENET, "retag", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count('"kind": "write"') >= after_records:
                time.sleep(random.uniform(0, 0.02))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                return None
            time.sleep(0.002)
        return proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kill_9_during_write_then_resume_then_undo(model, tmp_path):
    random.seed(15)
    music = tmp_path / "music"
    music.mkdir()
    formats = ["flac", "mp3", "ogg", "m4a", "wav"]
    files = [
        make_file(music, f"song{i:02d}", formats[i % 5], ["Old"] if i % 3 == 0 else None,
                  seconds=0.5, seed=i, picture=False)
        for i in range(50)
    ]  # fmt: skip
    before = {p: (tag_snapshot(p), audio_checksum(p), TagFile(p).get("genre")) for p in files}
    journal = tmp_path / "journal.jsonl"
    first = [str(music), "--model", str(model), "--write", "--mode", "replace",
             "--min-score", "0", "--journal", str(journal)]  # fmt: skip
    kills = 0
    args = first
    for target in sorted(random.sample(range(1, 49), 3)):
        code = _run_until_killed(args, journal, target)
        kills += code is None
        for path in files:  # every file whole: readable, audio intact, old or new genre
            genre = TagFile(path).get("genre")
            assert genre == before[path][2] or (len(genre) == 1 and genre[0] in GTZAN_GENRES)
            assert audio_checksum(path) == before[path][1]
        args = ["--resume", str(journal)]
    assert kills >= 2
    summary = retag("--resume", journal)["summary"]  # the last part in process: faster
    assert summary["failed"] == {}
    assert not [p for p in music.iterdir() if p.name.startswith(".")]  # leftover copies removed
    _, records = read_journal(journal)
    for path in files:
        genre = TagFile(path).get("genre")
        assert len(genre) == 1 and genre[0] in GTZAN_GENRES
        assert [r.new for r in records if r.path == path][-1] == genre
    retag("--undo", journal)
    for path in files:
        assert tag_snapshot(path) == before[path][0]
        assert audio_checksum(path) == before[path][1]


def test_a_journal_two_runs_appended_to_undoes_both(model, tmp_path):
    song = make_file(tmp_path, "song", "ogg", ["Ska"])
    journal = tmp_path.parent / f"{tmp_path.name}.jsonl"
    common = ["--model", model, "--write", "--min-score", "0", "--journal", journal]
    retag(song, *common, "--mode", "replace")
    first = TagFile(song).get("genre")
    retag(song, *common, "--mode", "append", "--format", "x-{label}")
    assert TagFile(song).get("genre") == [*first, f"x-{first[0]}"]
    assert retag("--undo", journal)["summary"]["restored"] == 1
    assert TagFile(song).get("genre") == ["Ska"]
