"""Download, verify and unpack the public genre datasets (GTZAN, FMA).

Downloads resume from ``<file>.part`` with HTTP Range requests, the archive only gets its final
name after its checksum matches, and unpacking happens in a temporary folder that is moved into
place in one step, so an interrupted run never leaves a half-written archive or tree behind.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from genrenet.errors import DownloadError

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0
USER_AGENT = "genrenet-downloader/0.1"
MARKER_NAME = ".genrenet-complete.json"
"""File written inside an unpacked folder once every member is in place."""

ALGORITHMS: dict[str, int] = {"md5": 32, "sha1": 40, "sha256": 64}
"""Supported checksum algorithms and the length of their hex digests."""

FORMATS: tuple[str, ...] = ("zip", "tar.gz")

_UNPACK_PREFIX = ".{filename}.unpacking-"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

Advance = Callable[[int], None]


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class ChecksumError(DownloadError):
    """A downloaded or existing archive does not have the expected checksum."""


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the destination folder, or is a link or device."""


@dataclass(frozen=True)
class RemoteArchive:
    """One downloadable dataset archive: where it lives, how to verify it, what it unpacks to."""

    name: str
    url: str
    algorithm: str
    checksum: str
    archive_format: str
    unpacked_dir: str
    description: str
    approx_size: str | None = None
    mirrors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"{self.name}: unsupported checksum algorithm {self.algorithm!r}; "
                f"use one of {', '.join(ALGORITHMS)}"
            )
        if not re.fullmatch(rf"[0-9a-f]{{{ALGORITHMS[self.algorithm]}}}", self.checksum):
            raise ValueError(
                f"{self.name}: checksum {self.checksum!r} is not a lowercase "
                f"{ALGORITHMS[self.algorithm]}-digit {self.algorithm} hex digest"
            )
        if self.archive_format not in FORMATS:
            raise ValueError(
                f"{self.name}: unsupported archive format {self.archive_format!r}; "
                f"use one of {', '.join(FORMATS)}"
            )
        if not self.filename:
            raise ValueError(f"{self.name}: URL {self.url!r} does not end in a file name")

    @property
    def filename(self) -> str:
        """The archive's file name, taken from the last part of its URL path."""
        return PurePosixPath(urlsplit(self.url).path).name


# Sources (read from the public repositories named here):
# - FMA: mdeff/fma README.md, "Usage" section and "History" (2017-05-09 release): the
#   os.unil.cloud.switch.ch URLs, the sha1 checksums, and the sizes (342 MiB, 7.2 GiB, 22 GiB).
#   Each zip should hold one top-level folder named like it (fma_metadata/, fma_small/, ...);
#   the audio subsets carry no labels: those are in fma_metadata/tracks.csv.
# - GTZAN: torchaudio/datasets/gtzan.py (URL, _CHECKSUMS sha256, FOLDER_IN_ARCHIVE = "genres")
#   and mir-dataset-loaders/mirdata mirdata/datasets/gtzan_genre.py (same URL; md5
#   5b3d6dddb579ab49814ab86dba69e7c7). The UVic host is often unreachable; the Hugging Face
#   copy (marsyas/gtzan, data/genres.tar.gz) is tried next and must match the same checksum.
DATASETS: dict[str, RemoteArchive] = {
    "gtzan": RemoteArchive(
        name="gtzan",
        url="http://opihi.cs.uvic.ca/sound/genres.tar.gz",
        algorithm="sha256",
        checksum="24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
        archive_format="tar.gz",
        unpacked_dir="genres",
        description="GTZAN genre collection: 1000 clips of 30 s, 10 genres, 22.05 kHz mono WAV",
        approx_size="1.2 GB",
        mirrors=("https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",),
    ),
    "fma-metadata": RemoteArchive(
        name="fma-metadata",
        url="https://os.unil.cloud.switch.ch/fma/fma_metadata.zip",
        algorithm="sha1",
        checksum="f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
        archive_format="zip",
        unpacked_dir="fma_metadata",
        description="FMA metadata: tracks.csv, genres.csv, features.csv, echonest.csv",
        approx_size="342 MiB",
    ),
    "fma-small": RemoteArchive(
        name="fma-small",
        url="https://os.unil.cloud.switch.ch/fma/fma_small.zip",
        algorithm="sha1",
        checksum="ade154f733639d52e35e32f5593efe5be76c6d70",
        archive_format="zip",
        unpacked_dir="fma_small",
        description="FMA small: 8,000 MP3 clips of 30 s, 8 balanced genres",
        approx_size="7.2 GiB",
    ),
    "fma-medium": RemoteArchive(
        name="fma-medium",
        url="https://os.unil.cloud.switch.ch/fma/fma_medium.zip",
        algorithm="sha1",
        checksum="c67b69ea232021025fca9231fc1c7c1a063ab50b",
        archive_format="zip",
        unpacked_dir="fma_medium",
        description="FMA medium: 25,000 MP3 clips of 30 s, 16 unbalanced genres",
        approx_size="22 GiB",
    ),
}


def download(
    name: str | RemoteArchive,
    dest: Path,
    *,
    base_url: str | None = None,
    progress: bool = True,
    extract: bool = True,
) -> Path:
    """Fetch, verify and (by default) unpack a dataset into ``dest``; safe to rerun after a crash.

    Returns the unpacked folder (``dest/<unpacked_dir>``), or the archive when ``extract`` is
    false. ``base_url`` replaces the host: the archive's file name is appended to it.
    """
    archive = resolve(name)
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / archive.unpacked_dir
    if extract and _is_complete(target, archive):
        return target
    final = dest / archive.filename
    if final.exists():
        actual = checksum_of(final, archive.algorithm, progress, f"checking {final.name}")
        if actual != archive.checksum:
            raise ChecksumError(
                f"{final} already exists but its {archive.algorithm} checksum is {actual}, "
                f"expected {archive.checksum}. genrenet did not finish this file; move or delete "
                "it and rerun to download it again."
            )
    else:
        _download_verified(archive, final, _candidate_urls(archive, base_url), progress)
    if not extract:
        return final
    return _unpack(final, target, archive, progress)


def resolve(name: str | RemoteArchive) -> RemoteArchive:
    """Look a dataset up in ``DATASETS`` by name; a ``RemoteArchive`` is returned unchanged."""
    if isinstance(name, RemoteArchive):
        return name
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}"
        ) from None


def _new_hasher(algorithm: str) -> _Hasher:
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"unsupported checksum algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}"
        )
    return hashlib.new(algorithm)


def checksum_of(path: Path, algorithm: str, progress: bool = False, label: str = "") -> str:
    """Hex digest of a file, read in chunks so multi-gigabyte archives need little memory;
    ``progress`` shows a bar labelled ``label``."""
    hasher = _new_hasher(algorithm)
    with _bar(progress, label, path.stat().st_size) as advance:
        _hash_into(path, hasher, advance)
    return hasher.hexdigest()


def _hash_into(path: Path, hasher: _Hasher, advance: Advance) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            hasher.update(chunk)
            advance(len(chunk))


@contextmanager
def _bar(enabled: bool, label: str, total: int | None, done: int = 0) -> Iterator[Advance]:
    """A rich byte progress bar (size, speed, ETA), or a no-op when disabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


def _candidate_urls(archive: RemoteArchive, base_url: str | None) -> list[str]:
    if base_url is not None:
        return [base_url.rstrip("/") + "/" + archive.filename]
    return [archive.url, *archive.mirrors]


def _download_verified(
    archive: RemoteArchive, final: Path, urls: list[str], progress: bool
) -> None:
    """Download into ``<final>.part`` from the first URL that works, then verify and rename."""
    part = final.with_name(final.name + ".part")
    failures: list[DownloadError] = []
    for url in urls:
        try:
            actual = _fetch(url, part, archive.algorithm, progress)
        except DownloadError as exc:
            failures.append(exc)
            continue
        if actual == archive.checksum:
            os.replace(part, final)
            return
        part.unlink(missing_ok=True)
        failures.append(
            ChecksumError(
                f"{final.name} from {url} has {archive.algorithm} checksum {actual}, expected "
                f"{archive.checksum}; the bad partial file {part} was deleted. Rerun to try again."
            )
        )
    if len(failures) == 1:
        raise failures[0]
    kind = ChecksumError if all(isinstance(f, ChecksumError) for f in failures) else DownloadError
    raise kind(f"every source for {final.name} failed:\n" + "\n".join(f"  {f}" for f in failures))


def _fetch(url: str, part: Path, algorithm: str, progress: bool) -> str:
    """Download ``url`` into ``part``, resuming when it exists; return the whole file's digest."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            # Nothing past what we hold: the .part is already whole (the checksum will tell).
            return checksum_of(part, algorithm, progress, f"checking {part.name}")
        raise _network_error(url, f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_error(url, getattr(exc, "reason", None) or exc) from exc

    with response:
        resumed = bool(start) and response.status == 206
        if resumed and _range_start(response.headers.get("Content-Range")) != start:
            response.close()
            part.unlink()
            return _fetch(url, part, algorithm, progress)
        hasher = _new_hasher(algorithm)
        if resumed:
            with _bar(progress, f"checking {part.name}", start) as advance:
                _hash_into(part, hasher, advance)
        else:
            start = 0  # fresh download, or a server that ignored Range: start over
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        total = start + length if length is not None else None
        received = 0
        with (
            open(part, "ab" if resumed else "wb") as fh,
            _bar(progress, part.name.removesuffix(".part"), total, start) as advance,
        ):
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise _network_error(url, exc, start + received) from exc
                if not chunk:
                    break
                fh.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                advance(len(chunk))
    if length is not None and received < length:
        raise _network_error(
            url, f"connection closed after {received} of {length} bytes", start + received
        )
    return hasher.hexdigest()


def _range_start(content_range: str | None) -> int | None:
    match = _CONTENT_RANGE.fullmatch((content_range or "").strip())
    return int(match.group(1)) if match else None


def _network_error(url: str, reason: object, kept: int = 0) -> DownloadError:
    resume = f" ({kept} bytes kept)" if kept else ""
    return DownloadError(
        f"could not download {url}: {reason}. Rerun the same command to resume{resume}."
    )


def _is_complete(target: Path, archive: RemoteArchive) -> bool:
    marker = target / MARKER_NAME
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded.get("checksum") == archive.checksum


def _unpack(archive_path: Path, target: Path, archive: RemoteArchive, progress: bool) -> Path:
    """Unpack into a temporary folder beside ``target``, then move it into place in one rename."""
    if target.exists():
        raise DownloadError(
            f"{target} already exists but is not a complete unpack of {archive_path.name} "
            f"(no matching {MARKER_NAME}); move or delete it and rerun to unpack again."
        )
    prefix = _UNPACK_PREFIX.format(filename=archive_path.name)
    for stale in target.parent.glob(prefix + "*"):  # left by an earlier run that crashed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = target.parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # not mkdtemp: its 0o700 mode would stick to the moved folder
    try:
        if archive.archive_format == "zip":
            _extract_zip(archive_path, tmp, progress)
        else:
            _extract_tar_gz(archive_path, tmp, progress)
        entries = list(tmp.iterdir())
        only = entries[0] if len(entries) == 1 else None
        source = only if only is not None and only.is_dir() and only.name == target.name else tmp
        marker = {"dataset": archive.name, "archive": archive_path.name}
        marker |= {"algorithm": archive.algorithm, "checksum": archive.checksum}
        (source / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(source, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _safe_member(name: str, archive_path: Path, root: Path) -> Path:
    """Where a member goes under ``root``; refuses absolute paths, drive letters and ``..``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    bad = (
        not pure.parts
        or pure.is_absolute()
        or ".." in pure.parts
        or ":" in pure.parts[0]
        or not (root / pure).resolve().is_relative_to(root.resolve())
    )
    if bad:
        raise UnsafeArchiveError(
            f"{archive_path}: member {name!r} would be written outside the destination folder; "
            "refusing to unpack this archive."
        )
    return root / pure


def _extract_zip(archive_path: Path, root: Path, progress: bool) -> None:
    try:
        with zipfile.ZipFile(archive_path) as zf:
            members = zf.infolist()
            for info in members:
                _safe_member(info.filename, archive_path, root)
            total = sum(info.file_size for info in members)
            with _bar(progress, f"unpacking {archive_path.name}", total) as advance:
                for info in members:
                    zf.extract(info, root)
                    advance(info.file_size)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(f"{archive_path} is not a readable zip archive: {exc}") from exc


def _extract_tar_gz(archive_path: Path, root: Path, progress: bool) -> None:
    total = archive_path.stat().st_size
    with (
        open(archive_path, "rb") as raw,
        _bar(progress, f"unpacking {archive_path.name}", total) as advance,
    ):
        try:
            _extract_tar_stream(raw, archive_path, root, advance)
        except (tarfile.TarError, EOFError) as exc:
            raise DownloadError(f"{archive_path} is not a readable tar.gz archive: {exc}") from exc


def _extract_tar_stream(raw: BinaryIO, archive_path: Path, root: Path, advance: Advance) -> None:
    """Read the archive once, front to back, checking each member before writing it."""
    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    seen = 0
    with tarfile.open(fileobj=raw, mode="r|gz") as tf:
        for member in tf:
            _safe_member(member.name, archive_path, root)
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(
                    f"{archive_path}: member {member.name!r} is a link or special file; "
                    "refusing to unpack this archive."
                )
            tf.extract(member, root, **extra)
            position = raw.tell()
            advance(position - seen)
            seen = position
