"""Content fingerprints: the same bytes under any path match, other bytes do not."""

from __future__ import annotations

import os
import shutil

import numpy as np
import soundfile as sf

from genrenet.data.fingerprints import (
    EDGE_BYTES,
    file_fingerprint,
    fingerprints,
    fitted_on_record,
    recorded_fingerprints,
    seen_tracks,
)


def noise_file(path, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(int(22050 * seconds))).astype(np.float32), 22050)


def test_copies_and_links_match_other_files_do_not(tmp_path) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    noise_file(a, 5.0, 0)  # 220 KB: head and tail do not overlap
    noise_file(b, 5.0, 1)
    assert a.stat().st_size > 2 * EDGE_BYTES
    moved = tmp_path / "elsewhere" / "renamed.wav"
    moved.parent.mkdir()
    shutil.copy(a, moved)
    link = tmp_path / "link.wav"
    os.symlink(a, link)
    assert file_fingerprint(a) == file_fingerprint(moved) == file_fingerprint(link)
    assert file_fingerprint(a) != file_fingerprint(b)
    # one byte changed at the end (the tail) is another file
    data = bytearray(a.read_bytes())
    data[-1] ^= 0xFF
    edited = tmp_path / "edited.wav"
    edited.write_bytes(bytes(data))
    assert file_fingerprint(edited) != file_fingerprint(a)


def test_fingerprints_skip_unreadable_and_seen_tracks_finds_copies(tmp_path) -> None:
    a, b, c = (tmp_path / f"{n}.wav" for n in "abc")
    for i, path in enumerate((a, b, c)):
        noise_file(path, 0.5, i)  # shorter than two edges: the whole file is hashed
    record = fingerprints([a, b, tmp_path / "missing.wav", a])
    assert len(record) == 2 and record == sorted(record)
    copy = tmp_path / "copy-of-b.wav"
    shutil.copy(b, copy)
    assert seen_tracks([c, copy, tmp_path / "missing.wav", a], record) == [copy, a]


def test_a_record_made_another_way_is_ignored(tmp_path) -> None:
    path = tmp_path / "a.wav"
    noise_file(path, 0.5, 0)
    record = fitted_on_record([path])
    assert recorded_fingerprints(record) == [file_fingerprint(path)]
    assert recorded_fingerprints({**record, "fitted_on_method": "md5(first 1 KiB)"}) is None
    assert recorded_fingerprints({"fitted_on": record["fitted_on"]}) is None
    assert recorded_fingerprints({}) is None
