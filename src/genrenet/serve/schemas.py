"""The JSON shapes of the API as Pydantic models, so that ``/docs`` documents itself.

``top`` and ``timeline`` are the shapes of ``genrenet predict --json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LabelScore(BaseModel):
    """One label and its score (a probability for genres, a tag probability for tags)."""

    label: str
    score: float


class Window(BaseModel):
    """One window of the song: its start and end in seconds and its best labels."""

    start: float
    end: float
    top: list[LabelScore]


class ModelRef(BaseModel):
    """Which loaded model answered."""

    name: str
    kind: str = Field(description="'genres' or 'tags'")


class PredictionOut(BaseModel):
    """The labels of one upload, best first, and on request its per-window timeline."""

    file: str = Field(description="The upload's file name as the client gave it (last part).")
    top: list[LabelScore]
    timeline: list[Window] | None = None
    duration: float = Field(description="Length of the audio in seconds.")
    model: ModelRef


class ModelInfo(BaseModel):
    """A loaded model: its labels, sample rate, window and how it was trained."""

    name: str
    kind: str
    description: str
    labels: list[str]
    sample_rate: int
    window_seconds: float
    features: str
    architecture: str
    training: dict[str, Any]


class ModelsOut(BaseModel):
    """Every model this server holds, and whether it asks for a token."""

    models: list[ModelInfo]
    max_upload_mb: float
    token_required: bool


class Status(BaseModel):
    """A health answer."""

    status: str
    models: list[str] = []


class ErrorOut(BaseModel):
    """Every error: a short stable code and a message that names the problem."""

    error: str
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "Malformed upload (no file part, broken multipart body)",
        401: "Missing or wrong bearer token",
        413: "Upload over the size limit",
        415: "Content type that is not audio",
        422: "Not usable as audio (empty, not audio, truncated, too short, NaN samples), "
        "or a bad query parameter",
        503: "Models still loading, or too many requests waiting (see Retry-After)",
    }.items()
}
"""Error answers of the upload endpoints, for the OpenAPI page."""
