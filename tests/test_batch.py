"""Library-scale runs: streamed inputs (list files, folders), JSON Lines and Parquet outputs that
survive a torn write or a kill -9 and resume to exactly one record per file, and ``--windows``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genrenet.classifier import Classifier
from genrenet.cli import app
from genrenet.data.inputs import iter_inputs, read_list
from genrenet.data.tracks import Skipped
from genrenet.inference.output import OutputError, open_output, read_records
from genrenet.patches import spread_starts, spread_windows
from tests.scale_helpers import random_bundle, write_clips

runner = CliRunner()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    return write_clips(tmp_path_factory.mktemp("clips") / "music", 8)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return random_bundle(tmp_path_factory.mktemp("model") / "model")


def _record(i: int) -> dict:
    return {"path": f"/music/{i}.wav", "top": [{"label": "a", "score": 0.5}], "error": None}


# -- outputs ---------------------------------------------------------------------------------
def test_jsonl_torn_last_line_is_dropped_on_resume(tmp_path) -> None:
    out = tmp_path / "x.jsonl"
    with open_output(out) as writer:
        for i in range(3):
            assert writer.write(_record(i))
        assert not writer.write(_record(1))  # a path is written once
    with open(out, "ab") as fh:
        fh.write(json.dumps(_record(3)).encode()[:25])  # killed mid-write
    with pytest.raises(OutputError, match="--resume"):
        open_output(out)
    writer = open_output(out, resume=True)
    assert writer.dropped_torn and writer.done == {f"/music/{i}.wav" for i in range(3)}
    writer.write(_record(3))
    writer.close()
    assert [r["path"] for r in read_records(out)] == [f"/music/{i}.wav" for i in range(4)]


def test_jsonl_damage_before_the_end_is_an_error(tmp_path) -> None:
    out = tmp_path / "x.jsonl"
    out.write_text(json.dumps(_record(0)) + "\n{broken\n" + json.dumps(_record(2)) + "\n")
    with pytest.raises(OutputError, match="line 2"):
        open_output(out, resume=True)
    assert out.read_text().count("\n") == 3  # nothing cut off


def test_parquet_shards_resume_and_read_back(tmp_path) -> None:
    out = tmp_path / "x.parquet"
    with open_output(out, shard_size=2) as writer:
        for i in range(5):
            writer.write(_record(i) | {"timeline": [{"start": 0.0}]} if i else _record(i))
    assert sorted(p.name for p in out.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    with open_output(out, resume=True, shard_size=2) as writer:
        assert len(writer.done) == 5
        writer.write(_record(4))
        writer.write({"path": "/music/bad.wav", "top": [], "error": "empty file"})
    records = list(read_records(out))
    assert [r["path"] for r in records][-1] == "/music/bad.wav"
    assert len(records) == 6 and records[1]["timeline"] == [{"start": 0.0}]
    assert records[0]["top"] == [{"label": "a", "score": 0.5}]


def test_unknown_output_suffix(tmp_path) -> None:
    with pytest.raises(OutputError, match=".jsonl or .parquet"):
        open_output(tmp_path / "x.csv")


# -- inputs ----------------------------------------------------------------------------------
def test_list_files_text_and_csv(tmp_path, clips) -> None:
    text = tmp_path / "list.txt"
    text.write_text(f"# my files\n{clips[0]}\n\n{clips[1]}\n{tmp_path / 'gone.wav'}\n")
    assert list(read_list(text)) == [str(clips[0]), str(clips[1]), str(tmp_path / "gone.wav")]
    csv_file = clips[0].parent / "list.csv"
    csv_file.write_text(f"path,label\n{clips[2].name},x\n{clips[3]},y\n")
    assert list(read_list(csv_file)) == [str(clips[2]), str(clips[3])]
    (tmp_path / "bad.csv").write_text("file,label\na.wav,x\n")
    with pytest.raises(ValueError, match="'path' column"):
        list(read_list(tmp_path / "bad.csv"))


def test_inputs_stream_folders_patterns_and_missing(clips, tmp_path) -> None:
    folder = clips[0].parent
    items = list(iter_inputs([str(folder), str(tmp_path / "nope.wav"), str(folder / "*.mp3")]))
    assert [i for i in items if isinstance(i, Path)] == clips
    reasons = sorted(i.reason for i in items if isinstance(i, Skipped))
    assert reasons == ["file not found", "the pattern matches no file"]
    assert next(iter_inputs([str(folder)])) == clips[0]  # a generator: nothing listed ahead


# -- windows ---------------------------------------------------------------------------------
def test_spread_starts() -> None:
    assert spread_starts(1000, 100, 1).tolist() == [450]  # the middle of the song
    starts = spread_starts(1000, 100, 3)
    assert starts.tolist() == [150, 450, 750]
    assert spread_starts(50, 100, 5).tolist() == [0]
    assert len(spread_starts(120, 100, 50)) == 21  # no more windows than start frames
    with pytest.raises(ValueError):
        spread_starts(1000, 100, 0)


def test_windows_k_scores_exactly_those_windows(model, clips) -> None:
    clf = Classifier.load(model)
    feats = clf.features_of(clips[0])
    every, _ = clf.window_proba(feats, hop_seconds=0.05)  # many overlapping windows
    chosen, starts = spread_windows(feats, clf.patch_frames, 2)
    (pred,) = clf.predict_files([clips[0]], top_k=4, windows=2, timeline=True)
    by_hand = np.stack(
        [
            clf.window_proba(feats[:, s : s + clf.patch_frames])[0][0]
            for s in starts  # each chosen window scored alone
        ]
    ).mean(0)
    np.testing.assert_allclose(pred.proba, by_hand, atol=1e-6)
    assert [w["start"] for w in pred.timeline] == [
        round(float(s) * clf.feature_config.hop_length / clf.feature_config.sample_rate, 3)
        for s in starts
    ]
    assert len(every) > 2


# -- the commands ----------------------------------------------------------------------------
def test_predict_from_list_to_jsonl_then_resume(model, clips, tmp_path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(map(str, clips[:5])) + f"\n{tmp_path / 'gone.wav'}\n")
    out = tmp_path / "a.jsonl"
    args = ["predict", "--model", str(model), "--from-list", str(listing), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # one listed file is missing
    records = list(read_records(out))
    assert len(records) == 6
    assert [r["error"] for r in records].count("file not found") == 1
    assert "6 record(s) written" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    listing.write_text("\n".join(map(str, clips)) + "\n")
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "3 record(s) written" in resumed.output and "5 already there" in resumed.output
    paths = [r["path"] for r in read_records(out)]
    assert len(paths) == len(set(paths)) == 9


def test_predict_windows_and_parquet(model, clips, tmp_path) -> None:
    out = tmp_path / "w.parquet"
    args = ["predict", "--model", str(model), str(clips[0].parent), "--windows", "1"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = list(read_records(out))
    clf = Classifier.load(model)
    expected = {str(p.path): p.top for p in clf.predict_files(clips, windows=1)}
    assert {r["path"]: r["top"] for r in records} == expected
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 2  # --resume needs --out


def test_engine_ray_without_ray_names_the_install(model, clips, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["predict", "--model", str(model), str(clips[0]), "--engine", "ray"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "pip install 'genrenet[ray]'" in result.output


def test_kill_9_mid_run_then_resume_gives_one_record_per_file(model, tmp_path) -> None:
    files = write_clips(tmp_path / "many", 24, seconds=2.0)
    out = tmp_path / "k.jsonl"
    cmd = [sys.executable, "-m", "genrenet.cli", "predict", "--model", str(model)]
    cmd += [str(tmp_path / "many"), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 1000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(list(read_records(out)))
    assert 0 < before < len(files)
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    paths = [r["path"] for r in read_records(out)]
    assert sorted(paths) == sorted(map(str, files))  # each file exactly once
    assert os.path.getsize(out) == sum(len(line) for line in out.read_bytes().splitlines(True))


def test_extract_out_indexes_the_cache_and_resumes(clips, tmp_path) -> None:

    folder = tmp_path / "music" / "rock"  # a genre folder
    folder.mkdir(parents=True)
    for clip in clips[:3]:
        (folder / clip.name).symlink_to(clip)
    (folder / "empty.wav").write_bytes(b"")
    out = tmp_path / "features.jsonl"
    args = ["extract", str(folder.parent), "--cache", str(tmp_path / "cache"), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # the empty file
    records = {r["path"]: r for r in read_records(out)}
    assert len(records) == 4 and records[str(folder / "empty.wav")]["error"]
    for clip in clips[:3]:
        assert np.load(records[str(folder / clip.name)]["features"]).shape[0] == 128
    (folder / "more.wav").symlink_to(clips[3])
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0  # like predict: a failure already in the index is not retried
    assert "1 of 1 tracks ready" in again.stdout and "4 already in the index" in again.stdout
    assert len(list(read_records(out))) == 5


def test_tag_out_with_windows(clips, tmp_path) -> None:
    out = tmp_path / "tags.jsonl"
    args = ["tag", str(clips[0]), str(clips[1]), "--out", str(out), "--windows", "1"]
    result = runner.invoke(app, [*args, "--top-k", "5"])
    assert result.exit_code == 0, result.output
    records = list(read_records(out))
    assert [len(r["top"]) for r in records] == [5, 5]
    assert sorted(r["path"] for r in records) == sorted(map(str, clips[:2]))


def test_extract_from_list_and_folder_runs_each_track_once(clips, tmp_path) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text(f"{clips[0]}\n{clips[1]}\n{tmp_path / 'gone.wav'}\n")
    args = ["--from-list", str(listed), "--cache", str(tmp_path / "cache")]
    result = runner.invoke(app, ["extract", *args, "--out", str(tmp_path / "f.jsonl")])
    assert result.exit_code == 1  # gone.wav
    assert "2 of 3 tracks ready" in result.stdout and "gone.wav: file not found" in result.stderr
    records = {r["path"]: r for r in read_records(tmp_path / "f.jsonl")}
    assert records[str(tmp_path / "gone.wav")]["error"] == "file not found"
    assert np.load(records[str(clips[1])]["features"]).shape[0] == 128
    folder = tmp_path / "music" / "rock"
    folder.mkdir(parents=True)
    (folder / "a.wav").symlink_to(clips[2])
    listed.write_text(f"{folder / 'a.wav'}\n{clips[0]}\n")
    both = runner.invoke(app, ["extract", str(folder.parent), *args])  # a.wav named twice
    assert both.exit_code == 0, both.output
    assert "2 of 2 tracks ready" in both.stdout and "(1 computed, 1 from the cache)" in both.stdout
    for bad in ([], ["--engine", "spark"], ["--engine", "local", "--address", "auto"]):
        usage = runner.invoke(app, ["extract", *(bad and [str(folder.parent)]), *bad])
        assert usage.exit_code == 2, (bad, usage.output)


def test_extract_and_embed_engine_ray_without_ray_name_the_install(clips, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    for command in ("extract", "embed"):
        result = runner.invoke(app, [command, str(clips[0].parent), "--engine", "ray"])
        assert result.exit_code == 2, result.output
        assert "pip install 'genrenet[ray]'" in result.output
