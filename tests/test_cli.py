"""The command line end to end: good files processed, bad ones listed, meaningful exit codes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from genrenet.cli import app
from tests.conftest import write_bad_files
from tests.test_download import server  # noqa: F401 - the local HTTP server fixture

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_extract_mixed_folder_processes_good_lists_bad_exits_1(mixed_tree, tmp_path) -> None:
    root, expected = mixed_tree
    result = run("extract", root, "--cache", tmp_path / "cache", "--workers", "2")
    assert result.exit_code == 1
    assert "13 of 19 tracks ready" in result.stdout
    for name, word in expected.items():
        line = next(line for line in result.stderr.splitlines() if name in line)
        assert word in line
    assert "Traceback" not in result.output
    again = run("extract", root, "--cache", tmp_path / "cache")
    assert "0 computed, 13 from the cache" in again.stdout


def test_extract_mfcc_option(genre_tree, tmp_path) -> None:
    result = run("extract", genre_tree, "--features", "mfcc", "--cache", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert "mfcc-" in result.stdout


def test_nothing_readable_is_one_clear_message(tmp_path) -> None:
    write_bad_files(tmp_path / "bad" / "rock")
    for command in ("extract", "info"):
        args = [command, tmp_path / "bad"] + (
            ["--cache", tmp_path / "c"] if command == "extract" else []
        )
        result = run(*args)
        assert result.exit_code == 1
        assert "no readable audio tracks found" in result.stderr
        assert "Traceback" not in result.output


def test_info_reports_genres_formats_rates_and_unreadable(mixed_tree) -> None:
    root, expected = mixed_tree
    result = run("info", root)
    assert result.exit_code == 1
    out = result.stdout
    for genre in ("blues", "jazz", "rock"):
        assert genre in out
    assert "wav (9)" in out and "flac (3)" in out and "mp3 (1)" in out
    assert "22050 Hz (12)" in out and "44100 Hz (1)" in out
    assert "6 file(s) cannot be read" in result.stderr
    for name in expected:
        assert name in result.stderr


def test_info_clean_collection_exits_0(genre_tree) -> None:
    result = run("info", genre_tree, "--quick")
    assert result.exit_code == 0, result.output
    assert "13" in result.stdout


def test_missing_data_is_usage_error(tmp_path) -> None:
    result = run("extract", tmp_path / "nope")
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr


def test_download_checksum_mismatch_is_reported(server, tmp_path) -> None:  # noqa: F811
    base, served = server
    served.files["genres.tar.gz"] = b"not the real archive"
    result = run("download", "gtzan", tmp_path / "dl", "--base-url", base + "/", "-q")
    assert result.exit_code == 1
    assert "checksum" in result.stderr.lower()
    assert not (tmp_path / "dl" / "genres.tar.gz").exists()


def test_download_unknown_dataset(tmp_path) -> None:
    result = run("download", "mnist", tmp_path)
    assert result.exit_code == 2
    assert "gtzan" in result.stderr


def test_version() -> None:
    import torch

    from genrenet import __version__
    from genrenet.pretrained.musicnn_weights import WEIGHTS_DIR

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"genrenet {__version__}"
    result = run("--version", "--verbose")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"torch {torch.__version__}" in out
    assert "onnxruntime " in out  # its version, or the command that installs it
    weights = next(line for line in out.splitlines() if line.startswith("musicnn weights:"))
    assert str(WEIGHTS_DIR) in weights and "converted from musicnn 0.1.0" in weights
    assert "MSD_musicnn" in weights and "gtzan-musicnn" in out
    assert run("--verbose").exit_code == 2  # a command is still needed


@pytest.mark.parametrize("bad", ["--seconds", "--clips"])
def test_synth_refuses_bad_arguments(tmp_path, bad) -> None:
    result = run("synth", tmp_path / "s", bad, "0")
    assert result.exit_code == 2
