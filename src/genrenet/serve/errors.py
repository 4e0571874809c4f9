"""Every error answer is JSON ``{"error": code, "detail": message}`` with a 4xx (or 503) status:
never a traceback, never FastAPI's default shapes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("genrenet.serve")


class ApiError(Exception):
    """An answer other than success: HTTP status, a short stable code and a message for people."""

    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON body every error has."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


AUDIO_REASONS = (
    ("empty", "empty"),
    ("no audio samples", "empty"),
    ("not an audio file", "not_audio"),
    ("not a recognised audio format", "not_audio"),
    ("no audio stream", "not_audio"),
    ("no audio channels", "not_audio"),
    ("truncated", "truncated"),
    ("too short", "too_short"),
    ("non-finite", "non_finite"),
    ("unsupported codec", "unsupported_codec"),
)
"""A decoder's reason (words of :class:`genrenet.errors.AudioError`) -> the error code."""


def audio_error(name: str, reason: str) -> ApiError:
    """422 for an upload that cannot be used as audio, its code read from the reason."""
    lowered = reason.lower()
    code = next((c for words, c in AUDIO_REASONS if words in lowered), "undecodable")
    return ApiError(422, code, f"{name}: {reason}")


def install_handlers(app: FastAPI) -> None:
    """Route ApiError, FastAPI's validation errors, HTTP errors and anything unexpected to the
    one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.error, err.detail, err.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        parts = []
        for item in err.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "query")
            parts.append(f"{where}: {item.get('msg', 'invalid')}")
        return error_response(422, "invalid_parameter", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "the server failed on this request; see its log")
