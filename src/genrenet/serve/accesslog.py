"""A structured access log: one JSON line a request (method, path, status, duration in ms,
upload size, top label), on the ``genrenet.serve.access`` logger."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger("genrenet.serve.access")


class AccessLog:
    """ASGI middleware around the app; routes put ``upload_bytes`` and ``top`` in
    ``request.state``, which this reads once the answer has gone."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            state = scope.get("state") or {}
            record = {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status["code"],
                "ms": round((time.perf_counter() - start) * 1000, 1),
                "bytes": state.get("upload_bytes"),
                "top": state.get("top"),
            }
            log.info(json.dumps(record))
