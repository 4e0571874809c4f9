"""Track records and collections: what every data source returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".m4a",
        ".mp4",
        ".aac",
        ".wma",
        ".webm",
        ".mka",
        ".caf",
        ".w64",
        ".rf64",
    }
)
"""File endings treated as audio when scanning folders."""


@dataclass(frozen=True)
class Track:
    """One labelled audio file.

    ``group`` is the leakage group (artist, album, ...) that must never straddle a split;
    ``split`` is the source's own assignment (``train``/``valid``/``test``) when it has one.
    """

    path: Path
    label: str
    group: str | None = None
    duration: float | None = None
    source_id: str | None = None
    split: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file a source could not use, with the reason in words."""

    path: Path
    reason: str


@dataclass
class Collection:
    """The tracks of one data source plus what it skipped and warned about."""

    name: str
    tracks: list[Track]
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str = "folders"
    root: Path | None = None
    """Where the collection was opened from (a folder or a manifest), when known."""

    def with_tracks(self, tracks: list[Track]) -> Collection:
        """The same source (name, skipped files, warnings, kind, root) with only ``tracks``."""
        return replace(self, tracks=list(tracks))

    @property
    def source(self) -> str:
        """The collection's path as text (its name when it was built in memory)."""
        return str(self.root) if self.root is not None else self.name

    @property
    def labels(self) -> list[str]:
        """Sorted genre labels present in the collection."""
        return sorted({t.label for t in self.tracks})

    def counts(self) -> dict[str, int]:
        """Tracks per label, in label order."""
        c = Counter(t.label for t in self.tracks)
        return {label: c[label] for label in self.labels}

    @property
    def has_groups(self) -> bool:
        """True when every track knows its leakage group (artist)."""
        return bool(self.tracks) and all(t.group is not None for t in self.tracks)

    @property
    def has_splits(self) -> bool:
        """True when the source assigns tracks to train/valid/test itself."""
        return any(t.split is not None for t in self.tracks)

    def __len__(self) -> int:
        return len(self.tracks)


def is_audio_path(path: Path) -> bool:
    """True for a visible file whose ending names an audio format."""
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")
