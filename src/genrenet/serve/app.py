"""The application factory: routers, dependencies, error handlers, the access log, the page.

    from genrenet.serve import create_app, ServeSettings
    app = create_app(ServeSettings(model="gtzan-musicnn", tagger="none"))

Given ``models`` (already loaded) the app is ready at once; otherwise it starts loading them
in the background when it starts, and ``/readyz`` answers 503 until they are there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from genrenet import __version__
from genrenet.serve.accesslog import AccessLog
from genrenet.serve.deps import require_token
from genrenet.serve.errors import install_handlers
from genrenet.serve.gate import InferenceGate
from genrenet.serve.models import LoadedModels, ModelHolder
from genrenet.serve.routers import health, inference, models, page
from genrenet.serve.settings import ServeSettings

log = logging.getLogger("genrenet.serve")


def create_app(
    settings: ServeSettings | None = None, loaded: LoadedModels | None = None
) -> FastAPI:
    """A FastAPI app serving ``settings.model`` (the bundled model by default)."""
    settings = settings or ServeSettings()
    holder = ModelHolder(loaded)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not holder.ready:
            holder.load_in_background(settings.model, settings.tagger)
        yield

    app = FastAPI(
        title="genrenet",
        version=__version__,
        description="Music genres (and musicnn tags) of uploaded songs. Upload a file as a "
        "multipart 'file' part, or as the raw body with its audio content type.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token = settings.read_token()
    app.state.holder = holder
    app.state.gate = InferenceGate(settings.concurrency, settings.queue)
    install_handlers(app)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])
    v1.include_router(inference.router)
    v1.include_router(models.router)
    app.include_router(health.router)
    app.include_router(v1)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    app.add_middleware(AccessLog)
    return app


def app_from_env() -> FastAPI:
    """The app of uvicorn's worker processes (``--workers N``): settings from the environment."""
    return create_app(ServeSettings.from_env())
