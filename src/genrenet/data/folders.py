"""Genre folders: ``<root>/<genre>/<any nesting>/<file>``, the layout of a person's own music."""

from __future__ import annotations

from pathlib import Path

from genrenet.data.tracks import Collection, Skipped, Track, is_audio_path


def _visible(path: Path, root: Path) -> bool:
    """False for anything inside a hidden folder or itself hidden (``.DS_Store``, ``.git``)."""
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def load_folders(root: Path) -> Collection:
    """One track per audio file below each genre folder; the folder name is the label.

    Non-audio and hidden files are ignored; genre folders without audio are reported in
    ``warnings``; audio files lying directly in ``root`` (no genre) are skipped with a reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    tracks: list[Track] = []
    skipped: list[Skipped] = []
    warnings: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if is_audio_path(entry):
                skipped.append(
                    Skipped(entry, "not inside a genre folder (expected <root>/<genre>/...)")
                )
            continue
        files = sorted(
            p
            for p in entry.rglob("*")
            if (p.is_file() or p.is_symlink()) and is_audio_path(p) and _visible(p, root)
        )
        if not files:
            warnings.append(f"genre folder {entry} holds no audio files")
            continue
        for path in files:
            rel = path.relative_to(root).as_posix()
            tracks.append(Track(path=path, label=entry.name, source_id=rel))
    return Collection(
        name=root.name, tracks=tracks, skipped=skipped, warnings=warnings, kind="folders"
    )
