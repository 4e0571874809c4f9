"""Item 3: one validation path. ``predict`` (and ``tag``, which shares the predictor) rejects
exactly what ``info``/``extract``/``train`` reject (:func:`genrenet.audio.load`), with the same
reasons and minimum duration, over a corpus of bad and odd files made here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrenet import audio
from tests.reliability.conftest import SR, noise, run_cli, tiny_classifier, write


def _m4a(path: Path, seconds: float) -> Path:
    import av

    y = noise(seconds, 44100)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        frame_size = 1024
        for i in range(0, len(y), frame_size):
            frame = av.AudioFrame.from_ndarray(
                y[None, i : i + frame_size], format="flt", layout="mono"
            )
            frame.sample_rate = 44100
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def corpus(folder: Path) -> dict[str, str | None]:
    """Every kind of file a hostile user offers; name -> a word of its error (None: good)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.wav").write_bytes(b"")
    (folder / "text.mp3").write_text("not music at all\n" * 50)
    write(folder / "full.mp3", 6.0)
    data = (folder / "full.mp3").read_bytes()
    (folder / "truncated.mp3").write_bytes(data[: len(data) // 25])
    sf.write(folder / "one sample.wav", noise(1.0)[:1], SR)
    sf.write(folder / "short.wav", noise(0.095), SR)  # under audio.MIN_DURATION
    for name, bad in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        y = noise(2.0)
        y[5000] = bad
        sf.write(folder / name, y, SR, subtype="FLOAT")
    sf.write(folder / "eight channels.wav", noise(2.0, 96000, channels=8), 96000, subtype="PCM_24")
    _m4a(folder / "aac.m4a", 2.0)
    write(folder / "opus.ogg", 2.0, sr=48000, format="OGG", subtype="OPUS")
    write(folder / "eight k.mp3", 2.0, sr=8000)
    write(folder / "ünïcødé 音楽.flac", 1.5)
    write(folder / "-leading dash.wav", 1.5)
    write(folder / "song [live].wav", 1.5)
    os.symlink("loop.wav", folder / "loop.wav")
    return {
        "zero.wav": "empty",
        "text.mp3": "not an audio file",
        "full.mp3": None,
        "truncated.mp3": "truncated",
        "one sample.wav": "too short",
        "short.wav": "too short",
        "nan.wav": "non-finite",
        "inf.wav": "non-finite",
        "eight channels.wav": None,
        "aac.m4a": None,
        "opus.ogg": None,
        "eight k.mp3": None,
        "ünïcødé 音楽.flac": None,
        "-leading dash.wav": None,
        "song [live].wav": None,
        "loop.wav": "symbolic link loop",
    }


def test_predict_rejects_what_load_rejects_with_the_same_reason(tmp_path: Path) -> None:
    expected = corpus(tmp_path / "bad")
    paths = [tmp_path / "bad" / name for name in expected]
    clf = tiny_classifier("musicnn", crop_seconds=1.0)
    predictions = {p.path.name: p for p in clf.predict_files(paths, workers=2)}
    for name, word in expected.items():
        try:
            audio.load(tmp_path / "bad" / name, sr=16000)
            load_error = None
        except audio.AudioError as err:
            load_error = err.reason
        pred = predictions[name]
        if word is None:
            assert load_error is None and pred.error is None, (name, load_error, pred.error)
            assert np.isfinite(pred.proba).all() and abs(pred.proba.sum() - 1) < 1e-4
        else:
            assert word in (load_error or ""), (name, load_error)
            assert pred.error == load_error, name


def test_cli_predict_exits_1_naming_each_bad_file(tmp_path: Path, capsys) -> None:
    corpus(tmp_path / "bad")
    folder = tmp_path / "bad"
    code, out, err = run_cli(
        ["predict", str(folder / "one sample.wav"), str(folder / "truncated.mp3"), str(folder)],
        capsys,
    )
    assert code == 1
    assert "Traceback" not in err
    for name, reason in (
        ("one sample.wav", "too short"),
        ("truncated.mp3", "truncated"),
        ("loop.wav", "symbolic link loop"),
    ):
        assert any(name in line and reason in line for line in err.splitlines()), (name, err)
    assert "song [live].wav" in out  # a good file, named whole


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop the capabilities")
def test_unreadable_file_is_named_when_root_drops_its_capabilities(tmp_path: Path) -> None:
    """As root every file is readable; ``setpriv`` drops the capability so mode 000 counts."""
    path = write(tmp_path / "locked.wav", 1.0)
    path.chmod(0)
    code = (
        "import sys; from genrenet import audio\n"
        "for read in (audio.load, lambda p: list(audio.stream(p))):\n"
        "    try: read(sys.argv[1]); print('read')\n"
        "    except audio.AudioError as e: print(e)\n"
    )
    cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code]
    try:
        done = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"setpriv not usable here ({err})")
    if done.returncode != 0 and "setpriv" in done.stderr:
        pytest.skip(f"setpriv refused: {done.stderr.strip()}")
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stderr
    assert all("locked.wav: cannot be read (Permission denied)" in line for line in lines)
