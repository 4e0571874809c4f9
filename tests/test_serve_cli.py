"""``genrenet serve`` on the command line: the missing extra, bad options and a busy port are one
clear message and exit 2; a real process prints its URL, says when it is open, and answers."""

from __future__ import annotations

import importlib.util
import json
import socket
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrenet.cli import app
from genrenet.cli import serve as serve_cli
from tests.serve_helpers import serve_process

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["serve", *map(str, args)], catch_exceptions=False)


def test_without_the_extra_says_how_to_install(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        serve_cli.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "fastapi" else real(name, *a),
    )
    result = run()
    assert result.exit_code == 2
    assert "pip install 'genrenet[serve]'" in result.stderr and "fastapi" in result.stderr


def test_bad_options_are_one_message(tmp_path) -> None:
    result = run("--model", tmp_path / "nothing-here", "--tagger", "none", "--port", "0")
    assert result.exit_code == 2 and "port" in result.stderr
    result = run("--model", tmp_path / "nothing-here", "--tagger", "none", "--port", "8123")
    assert result.exit_code == 2 and "nothing-here" in result.stderr
    assert "Traceback" not in result.output
    result = run("--tagger", "abc")
    assert result.exit_code == 2 and "tagger" in result.stderr
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = run("--token-file", empty)
    assert result.exit_code == 2 and "empty" in result.stderr


def test_busy_port_is_one_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--tagger", "none", "--port", port)
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_real_process_prints_url_and_answers(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serve_process(["--tagger", "none"], log) as url:
        models = json.loads(urllib.request.urlopen(f"{url}/v1/models", timeout=30).read())
    text = log.read_text()
    assert f"genrenet serve: {url}/" in text and "open server" in text
    assert models["models"][0]["name"] == "gtzan-musicnn" and not models["token_required"]
    access = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {"method": "GET", "path": "/v1/models", "status": 200} in [
        {k: r[k] for k in ("method", "path", "status")} for r in access
    ]


def post_until_loaded(url: str, body: bytes, deadline: float) -> tuple[int, str]:
    """POST a WAV as a client should: /readyz answered from one worker, the other may still be
    loading its model (503 "loading" with Retry-After), so wait as told, up to ``deadline`` s."""
    import time
    import urllib.error

    give_up = time.monotonic() + deadline
    while True:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "audio/wav"})
        try:
            with urllib.request.urlopen(request, timeout=120) as res:
                return res.status, json.loads(res.read())["model"]["name"]
        except urllib.error.HTTPError as err:
            error = json.loads(err.read())["error"]
            if err.code != 503 or error != "loading" or time.monotonic() > give_up:
                raise
            time.sleep(float(err.headers.get("Retry-After", "2")))


@pytest.mark.slow
def test_two_worker_processes_answer(tmp_path: Path) -> None:
    from tests.test_serve import clip

    log = tmp_path / "serve.log"
    body = clip(seconds=4.0)
    with serve_process(["--tagger", "none", "--workers", "2"], log, timeout=240) as url:
        statuses = []
        for _ in range(4):
            statuses.append(post_until_loaded(f"{url}/v1/predict", body, deadline=120))
    assert statuses == [(200, "gtzan-musicnn")] * 4
    assert "died" not in log.read_text()
