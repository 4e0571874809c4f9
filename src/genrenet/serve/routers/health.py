"""``GET /healthz`` (the process answers) and ``GET /readyz`` (the models are loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from genrenet.serve.errors import ApiError
from genrenet.serve.models import ModelHolder
from genrenet.serve.schemas import ErrorOut, Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
def healthz() -> Status:
    """The server is alive (it may still be loading its models)."""
    return Status(status="alive")


@router.get("/readyz", response_model=Status, responses={503: {"model": ErrorOut}})
def readyz(request: Request) -> Status:
    """The models are loaded and the server answers predictions."""
    holder: ModelHolder = request.app.state.holder
    if holder.models is None:
        if holder.error is not None:
            raise ApiError(503, "model_failed", f"the model could not be loaded: {holder.error}")
        raise ApiError(503, "loading", "the model is still loading", {"Retry-After": "2"})
    names = [holder.models.name]
    if holder.models.tagger is not None:
        names.append(holder.models.tagger.model_name)
    return Status(status="ready", models=names)
