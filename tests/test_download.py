"""Dataset downloader against a local HTTP server: resume, verification, safe unpacking."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from genrenet.data.download import (
    ALGORITHMS,
    DATASETS,
    MARKER_NAME,
    ChecksumError,
    DownloadError,
    RemoteArchive,
    UnsafeArchiveError,
    checksum_of,
    download,
    resolve,
)

FILES = {
    "genres/blues/blues.00000.wav": b"RIFF-blues-" + bytes(range(256)) * 40,
    "genres/rock/rock.00001.wav": b"RIFF-rock-" + bytes(range(255, -1, -1)) * 40,
    "genres/README.txt": b"tiny test collection\n",
}


@dataclass
class Served:
    """What the test server hands out and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    truncate_next: int | None = None  # send only this many bytes on the next request
    requests: list[tuple[str, str | None]] = field(default_factory=list)


def _make_handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            rng = self.headers.get("Range")
            served.requests.append((self.path, rng))
            body = served.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and served.honour_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if served.truncate_next is not None:
                payload = payload[: served.truncate_next]
                served.truncate_next = None
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(served))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_gz_bytes(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def _publish(
    served: Served,
    base: str,
    fmt: str,
    data: bytes,
    *,
    algorithm: str = "sha256",
    checksum: str | None = None,
    unpacked_dir: str = "genres",
) -> RemoteArchive:
    filename = f"toy.{fmt}"
    served.files[filename] = data
    return RemoteArchive(
        name="toy",
        url=f"{base}/{filename}",
        algorithm=algorithm,
        checksum=checksum or hashlib.new(algorithm, data).hexdigest(),
        archive_format=fmt,
        unpacked_dir=unpacked_dir,
        description="test archive",
    )


def _assert_unpacked(folder: Path, files: dict[str, bytes] = FILES) -> None:
    for name, data in files.items():
        assert (folder.parent / name).read_bytes() == data
    assert (folder / MARKER_NAME).is_file()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(("fmt", "build"), [("zip", _zip_bytes), ("tar.gz", _tar_gz_bytes)])
def test_full_download_verifies_and_unpacks(server, tmp_path, fmt, build):
    base, served = server
    data = build(FILES)
    archive = _publish(served, base, fmt, data, algorithm="sha1")

    out = download(archive, tmp_path, progress=False)

    assert out == tmp_path / "genres"
    _assert_unpacked(out)
    assert (tmp_path / f"toy.{fmt}").read_bytes() == data
    assert not (tmp_path / f"toy.{fmt}.part").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert served.requests == [(f"/toy.{fmt}", None)]


def test_progress_bar_path_downloads_the_same_bytes(server, tmp_path, capsys):
    base, served = server
    data = _zip_bytes(FILES)
    archive = _publish(served, base, "zip", data)

    out = download(archive, tmp_path, progress=True)

    _assert_unpacked(out)
    assert "toy.zip" in capsys.readouterr().err


def test_resume_sends_range_and_result_verifies(server, tmp_path):
    base, served = server
    data = _zip_bytes(FILES)
    archive = _publish(served, base, "zip", data, algorithm="md5")
    half = len(data) // 2
    (tmp_path / "toy.zip.part").write_bytes(data[:half])

    archive_path = download(archive, tmp_path, progress=False, extract=False)

    assert served.requests == [("/toy.zip", f"bytes={half}-")]
    assert archive_path.read_bytes() == data
    assert checksum_of(archive_path, "md5") == archive.checksum


def test_dropped_connection_keeps_part_and_next_run_resumes(server, tmp_path):
    base, served = server
    data = _tar_gz_bytes(FILES)
    archive = _publish(served, base, "tar.gz", data)
    cut = len(data) // 2
    served.truncate_next = cut

    with pytest.raises(DownloadError, match="Rerun the same command to resume") as err:
        download(archive, tmp_path, progress=False)
    assert archive.url in str(err.value)
    assert (tmp_path / "toy.tar.gz.part").stat().st_size == cut
    assert not (tmp_path / "toy.tar.gz").exists()

    out = download(archive, tmp_path, progress=False)

    _assert_unpacked(out)
    assert served.requests == [("/toy.tar.gz", None), ("/toy.tar.gz", f"bytes={cut}-")]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    base, served = server
    served.honour_range = False
    data = _zip_bytes(FILES)
    archive = _publish(served, base, "zip", data)
    # Not a prefix of the real file: appending to it would fail verification.
    (tmp_path / "toy.zip.part").write_bytes(b"x" * 300)

    out = download(archive, tmp_path, progress=False)

    _assert_unpacked(out)
    assert (tmp_path / "toy.zip").read_bytes() == data
    assert served.requests == [("/toy.zip", "bytes=300-")]


def test_complete_part_answered_with_416_is_verified_without_body(server, tmp_path):
    base, served = server
    data = _zip_bytes(FILES)
    archive = _publish(served, base, "zip", data)
    (tmp_path / "toy.zip.part").write_bytes(data)

    out = download(archive, tmp_path, progress=False)

    _assert_unpacked(out)
    assert served.requests == [("/toy.zip", f"bytes={len(data)}-")]


def test_checksum_mismatch_names_file_and_digests_and_removes_part(server, tmp_path):
    base, served = server
    data = _zip_bytes(FILES)
    wrong = hashlib.sha256(b"something else").hexdigest()
    archive = _publish(served, base, "zip", data, checksum=wrong)
    mine = tmp_path / "my-notes.txt"
    mine.write_text("keep me")

    with pytest.raises(ChecksumError) as err:
        download(archive, tmp_path, progress=False)

    message = str(err.value)
    assert "toy.zip" in message
    assert wrong in message
    assert hashlib.sha256(data).hexdigest() in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-notes.txt"]
    assert mine.read_text() == "keep me"


def test_existing_archive_with_wrong_checksum_is_reported_not_deleted(server, tmp_path):
    base, served = server
    archive = _publish(served, base, "zip", _zip_bytes(FILES))
    theirs = tmp_path / "toy.zip"
    theirs.write_bytes(b"not the archive")

    with pytest.raises(ChecksumError, match="already exists") as err:
        download(archive, tmp_path, progress=False)

    assert hashlib.sha256(b"not the archive").hexdigest() in str(err.value)
    assert theirs.read_bytes() == b"not the archive"
    assert served.requests == []


def test_second_call_downloads_nothing(server, tmp_path):
    base, served = server
    archive = _publish(served, base, "tar.gz", _tar_gz_bytes(FILES))

    first = download(archive, tmp_path, progress=False)
    second = download(archive, tmp_path, progress=False)
    (tmp_path / "toy.tar.gz").unlink()  # unpacked and marked complete: archive not needed
    third = download(archive, tmp_path, progress=False)

    assert first == second == third
    _assert_unpacked(third)
    assert len(served.requests) == 1


def test_verified_archive_is_not_fetched_again_and_gets_unpacked(server, tmp_path):
    base, served = server
    archive = _publish(served, base, "zip", _zip_bytes(FILES))

    download(archive, tmp_path, progress=False, extract=False)
    assert not (tmp_path / "genres").exists()
    out = download(archive, tmp_path, progress=False)

    _assert_unpacked(out)
    assert len(served.requests) == 1


@pytest.mark.parametrize("bad_name", ["../evil.txt", "/tmp/genrenet-evil.txt", "a/../../evil.txt"])
@pytest.mark.parametrize(("fmt", "build"), [("zip", _zip_bytes), ("tar.gz", _tar_gz_bytes)])
def test_path_traversal_member_is_rejected(server, tmp_path, fmt, build, bad_name):
    base, served = server
    dest = tmp_path / "dest"
    files = {"genres/ok.txt": b"fine", bad_name: b"escaped"}
    archive = _publish(served, base, fmt, build(files))

    with pytest.raises(UnsafeArchiveError, match="outside the destination") as err:
        download(archive, dest, progress=False)

    assert bad_name in str(err.value)
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/genrenet-evil.txt").exists()
    # The verified archive stays; no half-unpacked tree or temporary folder is left.
    assert sorted(p.name for p in dest.iterdir()) == [f"toy.{fmt}"]


def test_tar_symlink_member_is_rejected(server, tmp_path):
    base, served = server
    data = _tar_gz_bytes({"genres/ok.txt": b"fine"}, links={"genres/link": "/etc/passwd"})
    archive = _publish(served, base, "tar.gz", data)

    with pytest.raises(UnsafeArchiveError, match="link or special file"):
        download(archive, tmp_path, progress=False)

    assert not (tmp_path / "genres").exists()


def test_archive_without_top_folder_is_unpacked_into_target(server, tmp_path):
    base, served = server
    loose = {"a.txt": b"alpha", "sub/b.txt": b"beta"}
    archive = _publish(served, base, "zip", _zip_bytes(loose), unpacked_dir="toy")

    out = download(archive, tmp_path, progress=False)

    assert out == tmp_path / "toy"
    assert (out / "a.txt").read_bytes() == b"alpha"
    assert (out / "sub" / "b.txt").read_bytes() == b"beta"
    assert (out / MARKER_NAME).is_file()


def test_leftover_unpack_folder_from_a_crash_is_cleared(server, tmp_path):
    base, served = server
    archive = _publish(served, base, "zip", _zip_bytes(FILES))
    stale = tmp_path / ".toy.zip.unpacking-1234-abcd"
    (stale / "genres").mkdir(parents=True)
    (stale / "genres" / "half.wav").write_bytes(b"half")

    out = download(archive, tmp_path, progress=False)

    _assert_unpacked(out)
    assert not stale.exists()
    assert not (out / "half.wav").exists()


def test_existing_unmarked_target_folder_is_left_alone(server, tmp_path):
    base, served = server
    archive = _publish(served, base, "zip", _zip_bytes(FILES))
    (tmp_path / "genres").mkdir()
    (tmp_path / "genres" / "mine.wav").write_bytes(b"user data")

    with pytest.raises(DownloadError, match="not a complete unpack"):
        download(archive, tmp_path, progress=False)

    assert [p.name for p in (tmp_path / "genres").iterdir()] == ["mine.wav"]


def test_base_url_replaces_host(server, tmp_path):
    base, served = server
    data = _zip_bytes(FILES)
    served.files["mirror/toy.zip"] = data
    archive = RemoteArchive(
        name="toy",
        url="https://example.invalid/some/path/toy.zip",
        algorithm="sha256",
        checksum=hashlib.sha256(data).hexdigest(),
        archive_format="zip",
        unpacked_dir="genres",
        description="test archive",
    )

    out = download(archive, tmp_path, base_url=f"{base}/mirror/", progress=False)

    _assert_unpacked(out)
    assert served.requests == [("/mirror/toy.zip", None)]


def test_mirror_is_used_when_primary_host_is_down(server, tmp_path):
    base, served = server
    data = _zip_bytes(FILES)
    served.files["toy.zip"] = data
    archive = RemoteArchive(
        name="toy",
        url=f"{_closed_port_url()}/toy.zip",
        algorithm="sha256",
        checksum=hashlib.sha256(data).hexdigest(),
        archive_format="zip",
        unpacked_dir="genres",
        description="test archive",
        mirrors=(f"{base}/toy.zip",),
    )

    out = download(archive, tmp_path, progress=False)

    _assert_unpacked(out)
    assert served.requests == [("/toy.zip", None)]


def test_unreachable_host_gives_clear_error(tmp_path):
    url = _closed_port_url()

    with pytest.raises(DownloadError) as err:
        download("fma-metadata", tmp_path, base_url=url, progress=False)

    message = str(err.value)
    assert f"{url}/fma_metadata.zip" in message
    assert "Rerun the same command to resume" in message
    assert list(tmp_path.iterdir()) == []


def test_http_error_status_is_reported(server, tmp_path):
    base, _served = server

    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download("gtzan", tmp_path, base_url=base, progress=False)

    assert f"{base}/genres.tar.gz" in str(err.value)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_checksum_of_matches_hashlib(tmp_path, algorithm):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # spans several read chunks
    path.write_bytes(data)

    assert checksum_of(path, algorithm) == hashlib.new(algorithm, data).hexdigest()


def test_checksum_of_rejects_unknown_algorithm(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"x")

    with pytest.raises(ValueError, match="crc32"):
        checksum_of(path, "crc32")


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="unknown dataset 'gtzan2'") as err:
        resolve("gtzan2")

    for name in DATASETS:
        assert name in str(err.value)


def test_bad_registry_entry_is_refused():
    with pytest.raises(ValueError, match="not a lowercase 40-digit sha1"):
        RemoteArchive(
            name="x",
            url="https://example.invalid/x.zip",
            algorithm="sha1",
            checksum="abc",
            archive_format="zip",
            unpacked_dir="x",
            description="x",
        )


def test_registry_entries_are_consistent():
    assert set(DATASETS) == {"gtzan", "fma-small", "fma-medium", "fma-metadata"}
    for key, archive in DATASETS.items():
        assert archive.name == key
        assert archive.filename.endswith("." + archive.archive_format)
        assert archive.filename.removesuffix("." + archive.archive_format) in (
            archive.unpacked_dir,
            "genres",
        )
        for url in (archive.url, *archive.mirrors):
            assert url.startswith(("http://", "https://"))
            assert url.endswith("/" + archive.filename)
