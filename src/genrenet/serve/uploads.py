"""An upload streamed to a temporary file, never held whole in memory, deleted after the answer.

Two ways in: a ``multipart/form-data`` body (the first part with a file name, or the part named
``file``), parsed as it arrives; or a raw body whose content type says audio. The size limit is
checked against ``Content-Length`` before reading and again while the bytes arrive (413). The
client's file name is only ever shown back in messages; the file on disk gets a name of our own
(its suffix chosen from genrenet's list of audio endings, so decoders that go by it still can).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import Request
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from genrenet.data.tracks import AUDIO_EXTENSIONS
from genrenet.serve.errors import ApiError

RAW_TYPES = ("application/octet-stream", "application/ogg")
"""Content types accepted for a raw body besides ``audio/*`` and ``video/*``."""

PART_TYPES = (*RAW_TYPES, "", "application/x-www-form-urlencoded")
"""Content types of a multipart file part that are not audio/video but may hold audio (what
browsers and curl send for endings they do not know)."""


@dataclass
class Upload:
    """An uploaded file on disk: our own path, the client's name for messages, its size."""

    path: Path
    name: str
    size: int

    def delete(self) -> None:
        """Remove the temporary file (already gone is fine)."""
        self.path.unlink(missing_ok=True)


def display_name(filename: str | None) -> str:
    """The last component of a client's file name, printable, at most 120 characters."""
    if not filename:
        return "upload"
    base = PureWindowsPath(PurePosixPath(filename).name).name
    clean = "".join(ch if ch.isprintable() else "?" for ch in base).strip()
    return clean[:120] or "upload"


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in AUDIO_EXTENSIONS else ""


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _is_audio_type(media: str, allowed: tuple[str, ...]) -> bool:
    return media.startswith(("audio/", "video/")) or media in allowed


class _Sink:
    """A temporary file being written, counting bytes against the limit."""

    def __init__(self, limit: int, name: str, folder: str | None) -> None:
        self.limit = limit
        self.name = name
        fd, path = tempfile.mkstemp(prefix="genrenet-upload-", suffix=_suffix(name), dir=folder)
        self.path = Path(path)
        self.file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.file.write(data)

    def close(self) -> None:
        self.file.close()

    def upload(self) -> Upload:
        return Upload(self.path, self.name, self.size)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload is over the limit of {limit / 1e6:g} MB")


async def receive_upload(request: Request, limit: int, folder: str | None = None) -> Upload:
    """Stream the request's file to a temporary file; ApiError (400, 413, 415) when it is not
    an acceptable upload. The caller deletes the file."""
    try:
        return await _receive(request, limit, folder)
    except ClientDisconnect:
        raise ApiError(400, "disconnected", "the client went away during the upload") from None


async def _receive(request: Request, limit: int, folder: str | None) -> Upload:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + 64 * 1024:
        raise _too_large(limit)  # a multipart body is a little larger than its file
    media = _media_type(request.headers.get("content-type"))
    if media == "multipart/form-data":
        return await _receive_multipart(request, limit, folder)
    if not _is_audio_type(media, RAW_TYPES):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {media or '(none)'!r} is not audio: send multipart/form-data with a "
            "'file' part, or the raw file with an audio/* or application/octet-stream type",
        )
    name = display_name(request.query_params.get("filename") or "upload")
    sink = _Sink(limit, name, folder)
    try:
        async for chunk in request.stream():
            sink.write(chunk)
    except BaseException:
        sink.close()
        sink.upload().delete()
        raise
    sink.close()
    return sink.upload()


class _MultipartReceiver:
    """Callbacks of python-multipart's streaming parser: the file part goes to a sink."""

    def __init__(self, limit: int, folder: str | None) -> None:
        self.limit = limit
        self.folder = folder
        self.sink: _Sink | None = None
        self.done = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._writing = False
        self.error: ApiError | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._field = self._value = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        field = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        is_file = filename is not None or field == "file"
        if self.done or self.sink is not None or not is_file:
            return
        media = _media_type(self._headers.get(b"content-type", b"").decode("latin-1"))
        if not _is_audio_type(media, PART_TYPES):
            self.error = ApiError(
                415,
                "unsupported_media_type",
                f"the file part's content type {media!r} is not audio",
            )
            return
        name = display_name(filename.decode("utf-8", "replace") if filename else None)
        self.sink = _Sink(self.limit, name, self.folder)
        self._writing = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writing and self.sink is not None:
            self.sink.write(data[start:end])

    def _part_end(self) -> None:
        if self._writing:
            self._writing = False
            self.done = True


async def _receive_multipart(request: Request, limit: int, folder: str | None) -> Upload:
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart/form-data without a boundary")
    receiver = _MultipartReceiver(limit, folder)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if receiver.error is not None:
                raise receiver.error
        parser.finalize()
    except MultipartParseError as err:
        _discard(receiver)
        raise ApiError(400, "bad_request", f"malformed multipart body ({err})") from None
    except BaseException:
        _discard(receiver)
        raise
    if receiver.sink is None:
        raise ApiError(400, "no_file", "the form has no file part (send it as 'file')")
    receiver.sink.close()
    if not receiver.done:
        receiver.sink.upload().delete()
        raise ApiError(400, "bad_request", "the multipart body ends inside the file part")
    return receiver.sink.upload()


def _discard(receiver: _MultipartReceiver) -> None:
    if receiver.sink is not None:
        receiver.sink.close()
        receiver.sink.upload().delete()
