"""``genrenet serve``: the HTTP API and the web page over a model (needs genrenet[serve])."""

from __future__ import annotations

import importlib.util
import inspect
import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from genrenet.cli.common import errors, fail

SERVE_EXTRA = "pip install 'genrenet[serve]'"
SERVE_MODULES = ("fastapi", "uvicorn", "python_multipart")
WORKER_START_S = 120
"""Seconds a worker process (``--workers N``) may take to start before uvicorn replaces it."""


def _log_config() -> dict:
    """uvicorn's logging plus genrenet's access log, plain lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "genrenet.serve")
        },
    }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise fail(
                escape(f"cannot listen on {host}:{port} ({err.strerror or err})"), 2
            ) from None


def serve(
    model: Annotated[
        str,
        typer.Option(help="Model folder (or run folder), or a bundled model's name."),
    ] = "gtzan-musicnn",
    tagger: Annotated[
        str, typer.Option(help="musicnn tags for /v1/tag and the page: msd, mtt or none.")
    ] = "msd",
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes, each with its own copy of the model.")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option(help="Inferences at once in each process (more wait in the queue).")
    ] = 1,
    queue: Annotated[
        int, typer.Option(help="Requests that may wait per process; beyond that: 503.")
    ] = 32,
    max_upload_mb: Annotated[float, typer.Option(help="Largest upload (413 beyond it).")] = 200,
    token_file: Annotated[
        Path | None,
        typer.Option(help="File holding a token; /v1/ requests then need 'Bearer <token>'."),
    ] = None,
) -> None:
    """Serve a model over HTTP: a JSON API (/v1/predict, /v1/tag, /v1/models, /docs) and a page."""
    missing = [m for m in SERVE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise fail(f"genrenet serve needs {', '.join(missing)}: {SERVE_EXTRA}", 2)
    import uvicorn

    from genrenet.errors import GenrenetError
    from genrenet.serve import ServeSettings, create_app
    from genrenet.serve.models import LoadedModels

    if workers < 1:
        raise fail("--workers must be at least 1", 2)
    if not 0 < port < 65536:
        raise fail(f"--port must be between 1 and 65535, got {port}", 2)
    try:
        settings = ServeSettings(
            model=model,
            tagger=tagger,
            max_upload_mb=max_upload_mb,
            token_file=str(token_file.resolve()) if token_file else None,
            concurrency=concurrency,
            queue=queue,
        )
        settings.read_token()
    except (ValueError, GenrenetError) as err:
        raise fail(str(err), 2) from None
    _check_port_free(host, port)
    try:
        loaded = LoadedModels.load(model, tagger)  # fails here, clearly, before listening
    except (GenrenetError, ValueError) as err:
        raise fail(str(err), 2) from None
    errors.print(f"model: {escape(loaded.classifier.describe())}", highlight=False)
    if loaded.tagger is not None:
        errors.print(f"tagger: {loaded.tagger.model_name}", highlight=False)
    if token_file is None:
        errors.print(
            "[yellow]open server:[/] no --token-file, anyone who reaches it may use /v1/",
            highlight=False,
        )
    if not _is_loopback(host):
        errors.print(
            f"[yellow]warning:[/] listening on {escape(host)}, not only this machine",
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    errors.print(
        f"genrenet serve: http://{shown}:{port}/ (API docs: http://{shown}:{port}/docs)",
        highlight=False,
        soft_wrap=True,
    )
    options = {"host": host, "port": port, "log_config": _log_config(), "access_log": False}
    if workers == 1:
        uvicorn.run(create_app(settings, loaded), **options)
        return
    del loaded
    from genrenet.serve.settings import ENV_VAR

    os.environ[ENV_VAR] = settings.to_env()
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # a worker imports torch and loads the model before it answers uvicorn's first health
        # check: on a busy machine that takes longer than uvicorn's 5 s, and it would be killed
        options["timeout_worker_healthcheck"] = WORKER_START_S
    uvicorn.run("genrenet.serve.app:app_from_env", factory=True, workers=workers, **options)
