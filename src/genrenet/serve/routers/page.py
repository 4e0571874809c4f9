"""``GET /``: the one page (static HTML, CSS and plain JavaScript shipped in the package)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    """The page: drop files, see their genres, timeline and tags."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
