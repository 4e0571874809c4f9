"""Read and write one text field (the genre) of an audio file through mutagen, per tag format,
touching no other tag, picture or audio byte.

Formats and where the field lives (``field="genre"``; any other field name goes to the format's
free-form slot):

==================================  ==================  ==================================
container                           genre               other field ``F``
==================================  ==================  ==================================
MP3, WAV, AIFF (ID3v2.3 / v2.4)     ``TCON``            ``TXXX:F``
FLAC, Ogg Vorbis / Opus / Speex     ``GENRE``           ``F`` (Vorbis comment)
M4A / MP4 / AAC                     ``©gen``            ``----:com.apple.iTunes:F``
WMA (ASF)                           ``WM/Genre``        ``F``
==================================  ==================  ==================================

ID3 tags are loaded without mutagen's v2.4 translation and saved in the version they had, so a
v2.3 tag keeps its ``TYER``/``TDAT`` frames as they were; v2.3 holds several values in one frame
joined by ``/`` (mutagen's convention), v2.4 as separate strings. A value is a list of strings,
or ``None`` when the field is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

from genrenet.errors import GenrenetError

__all__ = [
    "FileChangedError",
    "TagError",
    "TagFile",
    "UnsupportedFormatError",
    "read_field",
    "write_field",
]

Values = list[str] | None


class TagError(GenrenetError):
    """A file whose tags cannot be read or written; ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


TAGGED_SUFFIXES = frozenset(
    {".mp3", ".flac", ".ogg", ".oga", ".opus", ".spx", ".m4a", ".mp4", ".m4b", ".wav", ".wave"}
    | {".aif", ".aiff", ".aifc", ".wma", ".asf"}
)
"""File endings of the formats genrenet writes tags to: such a file mutagen cannot open is
damaged, not merely of an untaggable kind."""


class FileChangedError(TagError):
    """A file that changed between the moment it was read and the moment it was to be written."""


class UnsupportedFormatError(TagError):
    """A file in a format genrenet cannot write tags to (Matroska, CAF, raw AAC, AU, ...)."""


def _mutagen():
    try:
        import mutagen
    except ImportError as err:  # pragma: no cover - the extra is installed in development
        raise ImportError("writing tags needs mutagen: pip install 'genrenet[beets]'") from err
    return mutagen


class TagFile:
    """One file's tags, opened once: :meth:`get` and :meth:`set` a field, :meth:`save` them.

    >>> tags = TagFile("song.flac")  # doctest: +SKIP
    >>> tags.get("genre"), tags.kind
    (['Rock'], 'vorbis')
    """

    def __init__(self, path: str | os.PathLike) -> None:
        mutagen = _mutagen()
        from mutagen.asf import ASF
        from mutagen.id3 import ID3
        from mutagen.mp4 import MP4

        self.path = Path(path)
        try:
            audio = mutagen.File(self.path)
        except Exception as err:  # mutagen raises many kinds on damaged files
            raise TagError(self.path, f"cannot read its tags ({err})") from None
        if audio is None:
            if self.path.suffix.lower() in TAGGED_SUFFIXES:
                raise TagError(self.path, f"not a readable {self.path.suffix} file (damaged?)")
            raise UnsupportedFormatError(self.path, "not a format mutagen can tag")
        self.audio = audio
        self.format = type(audio).__name__
        tags = audio.tags
        if isinstance(audio, MP4):
            self.kind = "mp4"
        elif isinstance(audio, ASF):
            self.kind = "asf"
        elif isinstance(tags, ID3) or (tags is None and _takes_id3(audio)):
            self.kind = "id3"
        elif _takes_vorbis(audio):
            self.kind = "vorbis"
        else:
            raise UnsupportedFormatError(
                self.path, f"genrenet cannot write tags to {self.format} files"
            )
        self.id3 = None
        if self.kind == "id3" and tags is not None:
            # Reloaded untranslated: v2.3 frames stay v2.3 frames (no TYER -> TDRC rewrite).
            translate = tags.version < (2, 3, 0)
            try:
                self.id3 = type(tags)(self.path, translate=translate)
            except Exception as err:
                raise TagError(self.path, f"cannot read its ID3 tag ({err})") from None

    # -- one field -------------------------------------------------------------------------
    def key(self, field: str) -> str:
        """Where ``field`` lives in this format."""
        genre = field.lower() == "genre"
        if self.kind == "id3":
            return "TCON" if genre else f"TXXX:{field}"
        if self.kind == "mp4":
            return "\xa9gen" if genre else f"----:com.apple.iTunes:{field}"
        if self.kind == "asf":
            return "WM/Genre" if genre else field
        return field.upper() if genre else field

    def get(self, field: str = "genre") -> Values:
        """The field's values, or None when it is absent."""
        key = self.key(field)
        if self.kind == "id3":
            frames = self.id3.getall(key) if self.id3 is not None else []
            return [str(t) for f in frames for t in f.text] if frames else None
        tags = self.audio.tags
        if tags is None or key not in tags:
            return None
        if self.kind == "mp4":
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in tags[key]]
        return [str(v) for v in tags[key]]

    def set(self, field: str, values: Values) -> None:
        """Set the field to ``values`` (one entry per value), or remove it when None."""
        key = self.key(field)
        if values is not None:
            values = [str(v) for v in values]
        if self.kind == "id3":
            self._set_id3(key, field, values)
            return
        if self.audio.tags is None:
            if values is None:
                return
            self.audio.add_tags()
        tags = self.audio.tags
        if values is None:
            if key in tags:
                del tags[key]
            return
        if self.kind == "mp4" and key.startswith("----:"):
            from mutagen.mp4 import MP4FreeForm

            tags[key] = [MP4FreeForm(v.encode("utf-8")) for v in values]
        elif self.kind == "vorbis":
            # Keep the spelling of an existing key (GENRE / genre) so an undo gives it back.
            existing = [k for k, _ in tags if k.lower() == key.lower()]
            tags[existing[0] if existing else key] = values
        else:
            tags[key] = values

    def _set_id3(self, key: str, field: str, values: Values) -> None:
        from mutagen.id3 import TCON, TXXX

        if self.id3 is None:
            if values is None:
                return
            self.audio.add_tags()
            self.id3 = self.audio.tags
        old = self.id3.getall(key)
        # UTF-16 in v2.3 (it has no UTF-8), UTF-8 in v2.4; keep the encoding a frame had.
        encoding = old[0].encoding if old else (1 if self.id3.version[:2] == (2, 3) else 3)
        self.id3.delall(key)
        if values is None:
            return
        if key == "TCON":
            self.id3.add(TCON(encoding=encoding, text=values))
        else:
            self.id3.add(TXXX(encoding=encoding, desc=field, text=values))

    def save(self) -> None:
        """Write the tags back into the file (in place: call it on a copy, see safe_write)."""
        try:
            if self.kind == "id3" and self.id3 is not None:
                version = 3 if self.id3.version[:2] == (2, 3) else 4
                self.id3.save(self.path, v2_version=version)
            else:
                self.audio.save()
        except Exception as err:
            raise TagError(self.path, f"cannot write its tags ({err})") from None


def _takes_id3(audio) -> bool:
    """Formats whose tag is an ID3 tag (MP3, WAV, AIFF, ...), judged by their ``add_tags``."""
    from mutagen.aiff import AIFF
    from mutagen.mp3 import MP3
    from mutagen.wave import WAVE

    return isinstance(audio, MP3 | WAVE | AIFF)


def _takes_vorbis(audio) -> bool:
    """FLAC and the Ogg formats, whose tag is a Vorbis comment."""
    from mutagen.flac import FLAC
    from mutagen.ogg import OggFileType

    return isinstance(audio, FLAC | OggFileType)


def read_field(path: str | os.PathLike, field: str = "genre") -> Values:
    """The values of ``field`` in ``path`` (None when absent); raises :class:`TagError`."""
    return TagFile(path).get(field)


def write_field(path: str | os.PathLike, field: str, values: Values) -> Values:
    """Set ``field`` in ``path`` in place and return the values as read back from the file."""
    tags = TagFile(path)
    tags.set(field, values)
    tags.save()
    return TagFile(path).get(field)
