"""What a collection holds: tracks per genre, durations, formats, sample rates, unreadable files."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from genrenet import audio
from genrenet.data.tracks import Collection, Skipped, Track


@dataclass
class Inventory:
    """Counts and totals over the readable tracks, plus every file that could not be used."""

    name: str
    kind: str
    tracks_per_label: dict[str, int]
    seconds_per_label: dict[str, float]
    formats: dict[str, int]
    sample_rates: dict[int, int]
    unreadable: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_tracks(self) -> int:
        """Readable tracks."""
        return sum(self.tracks_per_label.values())

    @property
    def total_seconds(self) -> float:
        """Total duration of the readable tracks."""
        return sum(self.seconds_per_label.values())


def _check(track: Track, decode: bool) -> tuple[Track, audio.AudioInfo | None, str | None]:
    """Header info of one track, decoding it fully when ``decode`` to catch damaged files."""
    try:
        info = audio.probe(track.path)
        if decode:
            y, sr = audio.load_with_rate(track.path, sr=None)
            info = audio.AudioInfo(
                info.path, info.sample_rate, info.channels, len(y) / sr, info.format
            )
        return track, info, None
    except audio.AudioError as err:
        return track, None, err.reason


def take_inventory(
    collection: Collection, decode: bool = True, workers: int = 2, on_done=None
) -> Inventory:
    """Probe (and by default fully decode) every track of ``collection``, in parallel threads."""
    per_label: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    rates: Counter[int] = Counter()
    unreadable = list(collection.skipped)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for track, info, error in pool.map(lambda t: _check(t, decode), collection.tracks):
            if on_done is not None:
                on_done(track.path, "failed" if error else "ok")
            if info is None:
                unreadable.append(Skipped(track.path, error or "unreadable"))
                continue
            per_label[track.label] += 1
            seconds[track.label] += info.duration
            formats[Path(track.path).suffix.lower().lstrip(".") or info.format] += 1
            rates[info.sample_rate] += 1
    labels = sorted(per_label)
    return Inventory(
        name=collection.name,
        kind=collection.kind,
        tracks_per_label={k: per_label[k] for k in labels},
        seconds_per_label={k: seconds[k] for k in labels},
        formats=dict(sorted(formats.items())),
        sample_rates=dict(sorted(rates.items())),
        unreadable=unreadable,
        warnings=list(collection.warnings),
    )
