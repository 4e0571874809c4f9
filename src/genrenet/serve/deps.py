"""The dependencies routes declare: the settings, the token check, the loaded models, the upload."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from genrenet.serve.errors import ApiError
from genrenet.serve.gate import InferenceGate
from genrenet.serve.models import LoadedModels, ModelHolder
from genrenet.serve.settings import ServeSettings
from genrenet.serve.uploads import Upload, receive_upload

bearer = HTTPBearer(auto_error=False, description="The token of the server's --token-file.")


def get_settings(request: Request) -> ServeSettings:
    """The server's settings."""
    return request.app.state.settings


def get_gate(request: Request) -> InferenceGate:
    """The gate every inference passes."""
    return request.app.state.gate


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    """401 unless the request carries the server's bearer token (compared in constant time);
    nothing to check on an open server."""
    token: str | None = request.app.state.token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("this server needs 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise _unauthorized("the bearer token is not this server's")


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def get_models(request: Request) -> LoadedModels:
    """The loaded models; 503 while they load (or when loading failed)."""
    holder: ModelHolder = request.app.state.holder
    if holder.models is not None:
        return holder.models
    if holder.error is not None:
        raise ApiError(503, "model_failed", f"the model could not be loaded: {holder.error}")
    raise ApiError(503, "loading", "the model is still loading", headers={"Retry-After": "2"})


async def upload_file(request: Request) -> AsyncIterator[Upload]:
    """The request's upload as a temporary file, deleted once the answer is made."""
    settings: ServeSettings = request.app.state.settings
    upload = await receive_upload(request, settings.max_upload_bytes, settings.upload_dir)
    request.state.upload_bytes = upload.size
    try:
        yield upload
    finally:
        upload.delete()
