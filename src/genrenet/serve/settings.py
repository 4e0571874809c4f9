"""What a server is told at start: model, tagger, upload limit, token file, concurrency, queue.

The settings travel to uvicorn's worker processes as JSON in one environment variable (the token
itself never does: each worker reads the token file).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from genrenet.errors import GenrenetError

ENV_VAR = "GENRENET_SERVE_SETTINGS"
TAGGER_CHOICES = ("msd", "mtt", "none")


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one server; every worker process builds its app from the same ones."""

    model: str = "gtzan-musicnn"
    tagger: str = "msd"
    max_upload_mb: float = 200.0
    token_file: str | None = None
    concurrency: int = 1
    queue: int = 32
    upload_dir: str | None = None

    def __post_init__(self) -> None:
        if self.tagger not in TAGGER_CHOICES:
            raise ValueError(f"tagger must be one of {list(TAGGER_CHOICES)}, got {self.tagger!r}")
        if self.max_upload_mb <= 0:
            raise ValueError(f"max upload must be positive, got {self.max_upload_mb} MB")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.queue < 0:
            raise ValueError(f"queue must be 0 or more, got {self.queue}")

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes (MB = 10^6 bytes)."""
        return int(self.max_upload_mb * 1_000_000)

    def read_token(self) -> str | None:
        """The bearer token from :attr:`token_file` (stripped), or None for an open server."""
        if self.token_file is None:
            return None
        path = Path(self.token_file)
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise TokenFileError(f"{path}: cannot read the token file ({err})") from None
        if not token:
            raise TokenFileError(f"{path}: the token file is empty")
        return token

    def to_env(self) -> str:
        """JSON for :data:`ENV_VAR`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        """The settings a parent process put in :data:`ENV_VAR` (defaults when absent)."""
        raw = os.environ.get(ENV_VAR)
        return cls(**json.loads(raw)) if raw else cls()


class TokenFileError(GenrenetError):
    """A token file that cannot be read or holds no token."""
