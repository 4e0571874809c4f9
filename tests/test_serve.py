"""The HTTP API through FastAPI's TestClient: every endpoint, every kind of bad upload, the token,
the size limit, the queue, concurrent requests, and temporary files gone after each answer."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")

from fastapi.testclient import TestClient  # noqa: E402

from genrenet import audio  # noqa: E402
from genrenet.serve import ServeSettings, create_app  # noqa: E402
from genrenet.serve.errors import ApiError  # noqa: E402
from genrenet.serve.gate import InferenceGate  # noqa: E402
from genrenet.serve.models import LoadedModels  # noqa: E402
from tests.conftest import SR, tone, write_bad_files  # noqa: E402

STREAM_CHECKS = "min_duration" in inspect.signature(audio.stream).parameters
"""Whether the streaming decoder finds truncated and too-short files (as ``audio.load`` does)."""


@pytest.fixture(scope="module")
def loaded() -> LoadedModels:
    """The bundled genre model and the MSD tagger, loaded once for the module."""
    return LoadedModels.load("gtzan-musicnn", "msd")


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def client():
    """``client(loaded, uploads, **settings)``: a started TestClient (one event loop for all
    its requests, as in a real server), closed after the test."""
    with ExitStack() as stack:

        def make(loaded: LoadedModels, uploads: Path, **settings) -> TestClient:
            app = create_app(ServeSettings(upload_dir=str(uploads), **settings), loaded)
            return stack.enter_context(TestClient(app))

        yield make


def clip(seconds: float = 7.0, freq: float = 330.0, fmt: str = "WAV") -> bytes:
    """A test clip as bytes: a tone with a beat, so windows differ a little."""
    y = tone(freq, seconds)
    y[:: SR // 2] += 0.5
    buf = io.BytesIO()
    sf.write(buf, y, SR, format=fmt)
    return buf.getvalue()


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.wav"
    path.write_bytes(clip())
    return path


def test_health_ready_and_page(loaded, uploads, client) -> None:
    c = client(loaded, uploads)
    assert c.get("/healthz").json()["status"] == "alive"
    ready = c.get("/readyz").json()
    assert ready == {"status": "ready", "models": ["gtzan-musicnn", "MSD_musicnn"]}
    page = c.get("/")
    assert page.status_code == 200 and "<html" in page.text and "/static/app.js" in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        assert c.get(asset).status_code == 200
    docs = c.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/tag", "/v1/models", "/healthz", "/readyz"} <= set(docs["paths"])
    body = docs["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "audio/*" in body


def test_not_ready_until_loaded(tmp_path) -> None:
    app = create_app(ServeSettings(model=str(tmp_path / "no-such-model"), tagger="none"))
    c = TestClient(app)  # no lifespan: nothing loads
    assert c.get("/healthz").status_code == 200
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["error"] == "loading"
    r = c.post("/v1/predict", content=clip(), headers={"content-type": "audio/wav"})
    assert r.status_code == 503 and r.headers["retry-after"]
    with TestClient(app) as started:  # the lifespan loads in the background, and fails
        assert not app.state.holder.wait(30)
        r = started.get("/readyz")
        assert r.status_code == 503 and r.json()["error"] == "model_failed"
        assert "no-such-model" in r.json()["detail"]


def test_predict_equals_the_classifier(loaded, uploads, song, client) -> None:
    c = client(loaded, uploads)
    direct = loaded.classifier.predict_file(song, top_k=3, timeline=True)
    r = c.post(
        "/v1/predict?timeline=true",
        files={"file": ("my song.wav", song.read_bytes(), "audio/wav")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["top"] == direct.top
    assert body["timeline"] == direct.timeline
    assert body["file"] == "my song.wav"
    assert body["duration"] == pytest.approx(7.0, abs=0.01)
    assert body["model"] == {"name": "gtzan-musicnn", "kind": "genres"}
    raw = c.post("/v1/predict", content=song.read_bytes(), headers={"content-type": "audio/x-wav"})
    assert raw.status_code == 200 and raw.json()["top"] == direct.top
    assert "timeline" not in raw.json()
    assert list(uploads.iterdir()) == []


def test_predict_query_options(loaded, uploads, song, client) -> None:
    c = client(loaded, uploads)
    data = song.read_bytes()
    headers = {"content-type": "audio/wav"}
    five = c.post("/v1/predict?top_k=5", content=data, headers=headers).json()
    assert len(five["top"]) == 5
    scores = [t["score"] for t in five["top"]]
    assert scores == sorted(scores, reverse=True)
    plain = c.post("/v1/predict?timeline=true", content=data, headers=headers).json()
    dense = c.post("/v1/predict?timeline=true&hop=1", content=data, headers=headers).json()
    assert len(dense["timeline"]) > len(plain["timeline"])
    for query, word in (("top_k=0", "top_k"), ("hop=-1", "hop"), ("timeline=maybe", "timeline")):
        r = c.post(f"/v1/predict?{query}", content=data, headers=headers)
        assert r.status_code == 422 and r.json()["error"] == "invalid_parameter"
        assert word in r.json()["detail"]


def test_tag_and_models(loaded, uploads, song, client) -> None:
    c = client(loaded, uploads)
    r = c.post("/v1/tag", files={"file": ("song.wav", song.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["top"] == loaded.tagger.tag_file(song).top
    assert len(body["top"]) == 10 and body["model"] == {"name": "MSD_musicnn", "kind": "tags"}
    models = c.get("/v1/models").json()
    genres, tags = models["models"]
    assert genres["labels"] == loaded.classifier.labels and genres["sample_rate"] == 16000
    assert genres["window_seconds"] == 3.0 and genres["architecture"] == "musicnn-msd"
    assert genres["training"]["config"]["model"] == "musicnn-msd"
    # the fingerprints of the clips it was fitted on are summed up, not listed
    fitted = len(loaded.classifier.metadata["fitted_on"])
    assert (
        "fitted_on" not in genres["training"] and genres["training"]["fitted_on_tracks"] == fitted
    )
    assert tags["kind"] == "tags" and len(tags["labels"]) == 50
    assert models["token_required"] is False


def test_tag_without_tagger_is_404(uploads, song, client) -> None:
    c = client(LoadedModels.load("gtzan-musicnn", "none"), uploads, tagger="none")
    r = c.post("/v1/tag", content=song.read_bytes(), headers={"content-type": "audio/wav"})
    assert r.status_code == 404 and r.json()["error"] == "no_tagger"
    assert [m["kind"] for m in c.get("/v1/models").json()["models"]] == ["genres"]


BAD = {
    "empty.wav": "empty",
    "notes.wav": "not_audio",
    "truncated.mp3": "truncated",
    "one_sample.wav": "too_short",
    "nan.wav": "non_finite",
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("endpoint", ["/v1/predict", "/v1/tag"])
def test_bad_uploads_are_422_with_a_reason(
    loaded, uploads, tmp_path, name, endpoint, client
) -> None:
    if name in ("truncated.mp3", "one_sample.wav") and not STREAM_CHECKS:
        pytest.skip("the streaming decoder does not yet check truncation and length")
    expected = write_bad_files(tmp_path / "bad")
    c = client(loaded, uploads)
    data = (tmp_path / "bad" / name).read_bytes()
    r = c.post(endpoint, files={"file": (f"../../etc/{name}", data, "application/octet-stream")})
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == BAD[name]
    assert body["detail"].startswith(f"{name}: ") and expected[name] in body["detail"]
    assert "Traceback" not in r.text and str(uploads) not in r.text
    assert list(uploads.iterdir()) == []


def test_upload_protocol_errors(loaded, uploads, client) -> None:
    c = client(loaded, uploads)
    r = c.post("/v1/predict", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = c.post("/v1/predict", files={"file": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 415 and "text/plain" in r.json()["detail"]
    r = c.post("/v1/predict", data={"note": "no file here"}, files={"other": ("", b"")})
    assert r.status_code == 400 and r.json()["error"] == "no_file"
    r = c.post(
        "/v1/predict",
        content=b"--xyz\r\nContent-Disposition: form-data; name=file; filename=a.wav\r\n\r\nabc",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = c.get("/v1/predict")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert c.get("/nowhere").json()["error"] == "not_found"
    assert list(uploads.iterdir()) == []


def test_size_limit_is_413_declared_or_streamed(loaded, uploads, client) -> None:
    c = client(loaded, uploads, max_upload_mb=0.1)
    big = clip(seconds=5.0)  # 220 kB of 16-bit WAV
    r = c.post("/v1/predict", files={"file": ("big.wav", big, "audio/wav")})
    assert r.status_code == 413 and r.json()["error"] == "too_large" and "0.1 MB" in r.text

    def chunks():  # no Content-Length: the limit is found while the bytes arrive
        for i in range(0, len(big), 16384):
            yield big[i : i + 16384]

    r = c.post("/v1/predict", content=chunks(), headers={"content-type": "audio/wav"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    small = clip(seconds=2.0)  # 88 kB: under the limit
    assert c.post("/v1/predict", files={"file": ("s.wav", small)}).status_code == 200
    assert list(uploads.iterdir()) == []


def test_token_on_and_off(loaded, uploads, tmp_path, song, client) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sesame-42\n")
    c = client(loaded, uploads, token_file=str(token_file))
    data, headers = song.read_bytes(), {"content-type": "audio/wav"}
    r = c.post("/v1/predict", content=data, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    wrong = {**headers, "Authorization": "Bearer sesame-43"}
    assert c.post("/v1/predict", content=data, headers=wrong).status_code == 401
    basic = {"Authorization": "Basic c2VzYW1lLTQy"}
    assert c.get("/v1/models", headers=basic).status_code == 401
    good = {**headers, "Authorization": "Bearer sesame-42"}
    assert c.post("/v1/predict", content=data, headers=good).status_code == 200
    assert c.get("/v1/models", headers=good).json()["token_required"] is True
    for open_path in ("/healthz", "/readyz", "/"):
        assert c.get(open_path).status_code == 200
    assert list(uploads.iterdir()) == []
    token_file.write_text("  \n")
    with pytest.raises(Exception, match="empty"):
        create_app(ServeSettings(token_file=str(token_file)), loaded)


def test_concurrent_requests_all_answered(loaded, uploads, tmp_path, client) -> None:
    c = client(loaded, uploads, concurrency=2, queue=16)
    clips = {f"c{i}.wav": clip(seconds=4.0, freq=200.0 + 60 * i) for i in range(4)}
    for name, data in clips.items():
        (tmp_path / name).write_bytes(data)
    expected = {n: loaded.classifier.predict_file(tmp_path / n).top for n in clips}

    def post(name: str):
        r = c.post("/v1/predict", files={"file": (name, clips[name], "audio/wav")})
        return name, r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, [*clips, *clips]))
    assert [status for _, status, _ in results] == [200] * 8
    for name, _, body in results:
        assert body["file"] == name and body["top"] == expected[name]
    assert list(uploads.iterdir()) == []


def test_gate_queues_then_refuses_with_retry_after() -> None:
    async def scenario() -> list:
        gate = InferenceGate(concurrency=1, queue=1)
        release = threading.Event()
        running = asyncio.create_task(gate.run(lambda: release.wait(10) and "first"))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(gate.run(lambda: "second"))
        await asyncio.sleep(0.05)
        assert (gate.running, gate.waiting) == (1, 1)
        with pytest.raises(ApiError) as refused:
            await gate.run(lambda: "third")
        release.set()
        return [await running, await waiting, refused.value]

    first, second, refused = asyncio.run(scenario())
    assert (first, second) == ("first", "second")
    assert refused.status == 503 and refused.headers == {"Retry-After": "5"}


def test_access_log_one_json_line_per_request(loaded, uploads, song, caplog, client) -> None:
    c = client(loaded, uploads)
    with caplog.at_level(logging.INFO, logger="genrenet.serve.access"):
        c.post("/v1/predict", files={"file": ("song.wav", song.read_bytes(), "audio/wav")})
        c.post("/v1/predict", content=b"", headers={"content-type": "audio/wav"})
        c.get("/healthz")
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("access")]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/v1/predict", 200),
        ("POST", "/v1/predict", 422),
        ("GET", "/healthz", 200),
    ]
    ok = records[0]
    assert ok["bytes"] == song.stat().st_size and ok["top"] and ok["ms"] > 0
    assert records[1]["bytes"] == 0 and records[1]["top"] is None


def test_client_file_name_never_becomes_a_path(loaded, uploads, song, client) -> None:
    c = client(loaded, uploads)
    name = b"../../../../tmp/genrenet-evil\x01name.wav"
    body = (
        b'--b0\r\nContent-Disposition: form-data; name=file; filename="'
        + name
        + b'"\r\n\r\n'
        + song.read_bytes()
        + b"\r\n--b0--\r\n"
    )
    r = c.post(
        "/v1/predict", content=body, headers={"content-type": "multipart/form-data; boundary=b0"}
    )
    assert r.status_code == 200 and r.json()["file"] == "genrenet-evil?name.wav"
    assert not list(Path("/tmp").glob("genrenet-evil*")) and list(uploads.iterdir()) == []


def test_nan_in_raw_body(loaded, uploads, client) -> None:
    y = np.full(SR, 0.1, np.float32)
    y[100] = np.nan
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="FLOAT")
    c = client(loaded, uploads)
    r = c.post(
        "/v1/predict?filename=x.wav", content=buf.getvalue(), headers={"content-type": "audio/wav"}
    )
    assert r.status_code == 422 and r.json()["error"] == "non_finite"
    assert r.json()["detail"].startswith("x.wav: ")
