"""Load test of ``genrenet serve``: a real server process on 127.0.0.1, concurrent clients.

Phases, each bounded in time (``--seconds``) and in requests (``--max-requests``):

1. ``--clients`` clients (8) each uploading 30 s clips one after another;
2. the same clients, a quarter of them uploading 5-minute songs (ten clips joined), the rest
   30 s clips: the clips' latency shows whether long songs hold short ones up;
3. short bursts at ``--more-clients`` (16, 32) clients with 30 s clips (``--more-seconds`` each).

It prints requests/s, audio seconds per second, p50/p95/p99 latency, the count of each status
code and of failed requests (no answer), the server's peak RSS (VmHWM of its processes), and as
the ceiling the same clips through ``genrenet predict`` in the same run: the whole command, and
``Classifier.predict_files`` in one process after the model is loaded (what the server does per
request). Targets: zero 5xx, zero failed, throughput >= 80% of the in-process CLI, RSS < 1.5 GB.
The clients and the server share the machine: on a busy machine read the ratios, not the times.

    .venv/bin/python benchmarks/serve.py [--data DIR] [--clients 8] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULT_PREFIX,
    format_table,
    load_note,
    repo_root,
    run_measured,
    worker_result,
)

DEFAULT_DATA = repo_root().parent / "shared" / "data" / "gtzan-mini"
EXE = Path(sys.executable).with_name("genrenet")
TARGET_RATIO = 0.8
TARGET_RSS_MB = 1536


@dataclass
class Phase:
    """What the clients of one phase saw."""

    name: str
    clients: int
    wall_s: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    failed: int = 0
    audio_s: float = 0.0
    answered: int = 0
    server_cpu_s: float = 0.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(path: Path) -> tuple[bytes, str]:
    """A multipart/form-data body holding the file as its ``file`` part."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        f"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(port: int, body: bytes, content_type: str, timeout: float) -> int:
    """POST /v1/predict; the HTTP status, or 0 when no answer came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/predict", body, {"Content-Type": content_type})
        res = conn.getresponse()
        res.read()
        return res.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def run_phase(
    server: int,
    port: int,
    phase: Phase,
    jobs: list[list[tuple[str, bytes, str, float]]],
    seconds: float,
    max_requests: int,
) -> Phase:
    """Each client cycles through its list of (kind, body, type, audio s) until time is up."""
    lock = threading.Lock()
    count = [0]
    deadline = time.perf_counter() + seconds

    def client(items: list[tuple[str, bytes, str, float]]) -> None:
        i = 0
        while time.perf_counter() < deadline:
            with lock:
                if count[0] >= max_requests:
                    return
                count[0] += 1
            kind, body, ctype, audio_s = items[i % len(items)]
            i += 1
            start = time.perf_counter()
            status = post(port, body, ctype, timeout=600)
            took = time.perf_counter() - start
            with lock:
                phase.latencies.setdefault(kind, []).append(took)
                if status == 0:
                    phase.failed += 1
                else:
                    phase.statuses[status] += 1
                if status == 200:
                    phase.audio_s += audio_s
                    phase.answered += 1

    start, cpu = time.perf_counter(), cpu_seconds(server)
    threads = [threading.Thread(target=client, args=(jobs[c],)) for c in range(phase.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.wall_s = time.perf_counter() - start
    phase.server_cpu_s = cpu_seconds(server) - cpu
    return phase


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def server_pids(pid: int) -> list[int]:
    """The server process and its children (uvicorn's workers with ``--workers N``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server's processes so far (all their threads)."""
    total = 0
    for p in server_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def cli_worker(model: str, files: list[Path], workers: int) -> None:
    """The ceiling in one process: ``Classifier.predict_files`` after loading, wall and CPU."""
    import soundfile as sf
    import torch

    from genrenet.classifier import Classifier

    torch.set_num_threads(workers)
    clf = Classifier.load(model)
    clf.predict_file(files[0])  # lazy imports and first allocations, not timed
    wall, cpu = time.perf_counter(), time.process_time()
    predictions = list(clf.predict_files(files, workers=workers))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    audio_s = sum(sf.info(str(f)).duration for f in files)
    failed = sum(p.error is not None for p in predictions)
    result = {"seconds": wall, "cpu": cpu, "audio": audio_s, "failed": failed}
    print(RESULT_PREFIX + json.dumps(result))


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident memory) of the server and its child processes, summed, in MiB."""
    total = 0
    for p in server_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def make_long_songs(clips: list[Path], count: int, out: Path) -> list[Path]:
    """``count`` 5-minute songs, each ten different clips joined (FLAC, 22050 Hz)."""
    import numpy as np
    import soundfile as sf

    from genrenet import audio

    songs = []
    for s in range(count):
        parts = [audio.load(clips[(s * 10 + i) % len(clips)], sr=22050) for i in range(10)]
        path = out / f"long-{s}.flac"
        sf.write(path, np.concatenate(parts), 22050, format="FLAC")
        songs.append(path)
    return songs


def start_server(port: int, args: argparse.Namespace, log: Path) -> subprocess.Popen:
    cmd = [
        str(EXE),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--tagger",
        "none",
        "--model",
        args.model,
        "--workers",
        str(args.workers),
        "--concurrency",
        str(args.concurrency),
        "--queue",
        str(args.queue),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: genrenet serve exited:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    sys.exit(f"error: genrenet serve not ready in 180 s:\n{log.read_text()}")


def phase_row(phase: Phase, kind: str) -> list[str]:
    lat = phase.latencies.get(kind, [])
    n = len(lat)
    codes = " ".join(f"{k}:{v}" for k, v in sorted(phase.statuses.items())) or "-"
    if not n:
        return [f"{phase.name} ({kind})", str(phase.clients), "0", "-", "-", "-", "-", "-", codes]
    return [
        f"{phase.name} ({kind})",
        str(phase.clients),
        str(n),
        f"{phase.answered / phase.wall_s:.2f}" if kind == "30 s" else "",
        f"{phase.audio_s / phase.wall_s:.0f}x" if kind == "30 s" else "",  # all the phase's audio
        f"{percentile(lat, 50):.2f}",
        f"{percentile(lat, 95):.2f}",
        f"{percentile(lat, 99):.2f}",
        f"{codes} failed:{phase.failed}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="gtzan-musicnn")
    parser.add_argument("--clips", type=int, default=24, help="30 s clips used (and the CLI's)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of phases 1 and 2")
    parser.add_argument("--long-songs", type=int, default=2, help="5-minute songs in phase 2")
    parser.add_argument("--more-clients", default="16,32", help="phase 3 client counts ('' none)")
    parser.add_argument("--more-seconds", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=2000, help="per phase")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--concurrency", type=int, default=1, help="inferences at once")
    parser.add_argument("--queue", type=int, default=64, help="server queue (per process)")
    parser.add_argument("--cli-workers", type=int, default=2, help="decode threads of the CLI")
    parser.add_argument("--cli-worker", nargs=2, metavar=("MODEL", "FILES_JSON"))
    args = parser.parse_args()
    if args.cli_worker:
        files = [Path(p) for p in json.loads(Path(args.cli_worker[1]).read_text())]
        cli_worker(args.cli_worker[0], files, args.cli_workers)
        return
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (pass --data DIR)")
        return
    import soundfile as sf

    from genrenet.data import open_collection

    tracks = open_collection(args.data).tracks
    clips = [t.path for t in tracks][:: max(1, len(tracks) // args.clips)][: args.clips]
    tmp = Path(tempfile.mkdtemp(prefix="genrenet-bench-serve-"))
    long_songs = make_long_songs([t.path for t in tracks], args.long_songs, tmp)
    files_json = tmp / "files.json"
    files_json.write_text(json.dumps([str(c) for c in clips]))
    audio_s = sum(sf.info(str(c)).duration for c in clips)
    print(
        f"genrenet serve load test: {len(clips)} clips of {args.data} ({audio_s / 60:.1f} min), "
        f"model {args.model}, server --workers {args.workers} --concurrency {args.concurrency} "
        f"--queue {args.queue}; clients and server on 127.0.0.1 of this machine"
    )
    print(load_note())

    # The ceiling: the same clips through genrenet predict, in this run.
    env = {**os.environ, "OMP_NUM_THREADS": str(args.cli_workers)}
    command = run_measured(
        [str(EXE), "predict", *map(str, clips), "--model", args.model, "--json"], env
    ).check("genrenet predict")
    cli_top = {Path(p["path"]).name: p["top"][0]["label"] for p in json.loads(command.stdout)}
    worker = run_measured(
        [
            sys.executable,
            __file__,
            "--cli-worker",
            args.model,
            str(files_json),
            "--cli-workers",
            str(args.cli_workers),
        ],
        env,
    ).check("in-process predict")
    inproc = worker_result(worker.stdout)

    port = free_port()
    log = tmp / "serve.log"
    server = start_server(port, args, log)
    phases: list[Phase] = []
    try:
        bodies = [("30 s", *multipart(c), sf.info(str(c)).duration) for c in clips]
        # one request per clip first (8 of them): the server's top genre must equal the CLI's
        mismatches = 0
        checked = min(8, len(clips))
        for clip, (_, body, ctype, _) in zip(clips[:checked], bodies, strict=False):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.request("POST", "/v1/predict", body, {"Content-Type": ctype})
            answer = json.loads(conn.getresponse().read())
            mismatches += answer["top"][0]["label"] != cli_top[clip.name]
        shifted = [bodies[c % len(bodies) :] + bodies[: c % len(bodies)] for c in range(64)]
        phases.append(
            run_phase(
                server.pid,
                port,
                Phase("30 s clips", args.clients),
                shifted,
                args.seconds,
                args.max_requests,
            )
        )
        longs = [("5 min", *multipart(s), sf.info(str(s)).duration) for s in long_songs]
        n_long = max(1, args.clients // 4) if long_songs else 0
        mixed = [longs if c < n_long else shifted[c] for c in range(args.clients)]
        phases.append(
            run_phase(
                server.pid,
                port,
                Phase("mixed", args.clients),
                mixed,
                args.seconds,
                args.max_requests,
            )
        )
        for n in [int(x) for x in args.more_clients.split(",") if x.strip()]:
            phases.append(
                run_phase(
                    server.pid, port, Phase("30 s clips", n), shifted, args.more_seconds, 10_000
                )
            )
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    cli_rate = inproc["audio"] / inproc["seconds"]
    print(
        f"\nceiling, the same {len(clips)} clips: genrenet predict (whole command, start-up "
        f"included) {command.wall_s:.1f} s = {audio_s / command.wall_s:.0f}x real time, "
        f"{len(clips) / command.wall_s:.2f} clips/s; in one process after loading "
        f"{inproc['seconds']:.1f} s = {cli_rate:.0f}x real time, "
        f"{len(clips) / inproc['seconds']:.2f} clips/s"
    )
    print(f"server top-1 = CLI top-1 on {checked - mismatches} of {checked} clips checked")
    cli_cpu = inproc["cpu"] / inproc["audio"] * 60
    first_cpu = phases[0].server_cpu_s / phases[0].audio_s * 60 if phases[0].audio_s else 0.0
    print(
        f"CPU seconds per minute of audio (holds on a busy machine): CLI in one process "
        f"{cli_cpu:.2f}, server with {args.clients} clients {first_cpu:.2f} "
        f"(CLI / server: {cli_cpu / first_cpu if first_cpu else 0:.0%})"
    )
    rows = []
    for phase in phases:
        for kind in ("30 s", "5 min"):
            if kind in phase.latencies:
                rows.append(phase_row(phase, kind))
    print(
        format_table(
            [
                "phase",
                "clients",
                "requests",
                "req/s",
                "audio x real",
                "p50 s",
                "p95 s",
                "p99 s",
                "status",
            ],
            rows,
        )
    )
    first = phases[0]
    ratio = (first.audio_s / first.wall_s) / cli_rate
    bad = sum(v for p in phases for k, v in p.statuses.items() if k >= 500)
    failed = sum(p.failed for p in phases)
    busy = sum(p.statuses.get(503, 0) for p in phases)
    print(
        f"\nthroughput, {args.clients} clients of 30 s clips vs the in-process CLI: {ratio:.0%} "
        f"(target >= {TARGET_RATIO:.0%}): {'PASS' if ratio >= TARGET_RATIO else 'MISS'}"
    )
    print(
        f"5xx: {bad} (503 busy: {busy}), failed requests: {failed}; server peak RSS "
        f"{rss:.0f} MiB (target < {TARGET_RSS_MB} MiB): "
        f"{'PASS' if rss < TARGET_RSS_MB else 'MISS'}"
    )
    print(f"server log: {log}")


if __name__ == "__main__":
    main()
