"""The TensorFlow checkpoint reader, against bundles written by an independent writer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from genrenet.pretrained.tf_checkpoint import (
    CheckpointError,
    crc32c,
    read_checkpoint,
    read_index,
    split_prefix,
    unmask_crc,
)
from tests.tf_bundle_writer import TF_DTYPES, Bundle, mask_crc, write_bundle


def sample_tensors() -> dict[str, np.ndarray]:
    """One tensor of every dtype under test, names sharing prefixes so keys get compressed."""
    rng = np.random.default_rng(0)
    return {
        "block/conv/kernel": rng.standard_normal((3, 5, 1, 4)).astype(np.float32),
        "block/conv/bias": rng.standard_normal(4).astype(np.float32),
        "block/dense/kernel": rng.standard_normal((6, 2)).astype(np.float32),
        "block/scale": np.float32(rng.standard_normal()).reshape(()),
        "global_step": np.array(123456789012, dtype=np.int64),
        "stats/double": rng.standard_normal((2, 3)),
        "stats/counts": rng.integers(-(2**31), 2**31 - 1, size=7, dtype=np.int32),
        "stats/ids": rng.integers(-(2**62), 2**62, size=(2, 2), dtype=np.int64),
        "stats/half": rng.standard_normal(5).astype(np.float16),
        "stats/mask": rng.random((3, 3)) > 0.5,
    }


def write(folder: Path, stem: str = "model.ckpt", **kwargs) -> tuple[Bundle, dict]:
    tensors = sample_tensors()
    return write_bundle(folder, stem, tensors, crc32c, **kwargs), tensors


def flip(path: Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))


# -- checksums --------------------------------------------------------------------------------
def test_crc32c_matches_known_vectors() -> None:
    # RFC 3720 (iSCSI) B.4 and the usual "123456789" check value of CRC-32C.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


def test_unmask_crc_inverts_leveldb_mask() -> None:
    for crc in [0, 1, 0xE3069283, 0xFFFFFFFF, 0x80000000, 0x12345678]:
        masked = mask_crc(crc)
        assert unmask_crc(masked) == crc
        if crc:
            assert masked != crc


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entries_per_block", "restart_interval", "gap"),
    [(1000, 16, 0), (3, 2, 5), (1, 1, 0), (4, 1000, 3)],
)
def test_round_trip_every_dtype_and_shape(
    tmp_path: Path, entries_per_block: int, restart_interval: int, gap: int
) -> None:
    bundle, tensors = write(
        tmp_path,
        entries_per_block=entries_per_block,
        restart_interval=restart_interval,
        gap=gap,
    )
    expected_blocks = -(-(len(tensors) + 1) // entries_per_block)  # +1: the header entry
    assert len(bundle.layout.data_blocks) == expected_blocks

    index = read_index(bundle.index_path)
    assert set(index) == set(tensors)  # the header entry ("") is not a variable
    for name, array in tensors.items():
        assert index[name].shape == array.shape
        assert index[name].dtype == TF_DTYPES[array.dtype]
        assert index[name].offset == bundle.offsets[name]
        assert index[name].shard == 0

    out = read_checkpoint(tmp_path / "model.ckpt")
    assert set(out) == set(tensors)
    for name, array in tensors.items():
        assert out[name].dtype == array.dtype, name
        assert out[name].shape == array.shape, name
        np.testing.assert_array_equal(out[name], array, err_msg=name)
    assert out["block/scale"].shape == ()
    assert out["global_step"] == 123456789012


def test_names_subset_reads_only_those(tmp_path: Path) -> None:
    _, tensors = write(tmp_path)
    names = ["stats/half", "block/conv/kernel"]
    out = read_checkpoint(tmp_path / "model.ckpt", names=names)
    assert sorted(out) == sorted(names)
    for name in names:
        np.testing.assert_array_equal(out[name], tensors[name])


def test_missing_name_is_named_in_the_error(tmp_path: Path) -> None:
    bundle, _ = write(tmp_path)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(tmp_path / "model.ckpt", names=["block/conv/bias", "no/such/var"])
    assert "no/such/var" in str(err.value)
    assert str(bundle.index_path) in str(err.value)


def test_folder_prefix_as_musicnn_ships_it(tmp_path: Path) -> None:
    folder = tmp_path / "MSD_like"
    bundle, tensors = write(folder, stem="")
    assert bundle.index_path.name == ".index"
    assert bundle.data_path.name == ".data-00000-of-00001"
    assert split_prefix(folder) == (folder, "")
    assert split_prefix(folder / "model.ckpt") == (folder, "model.ckpt")
    for prefix in (folder, f"{folder}/"):
        out = read_checkpoint(prefix)
        assert set(out) == set(tensors)
        np.testing.assert_array_equal(out["stats/ids"], tensors["stats/ids"])


# -- a damaged index --------------------------------------------------------------------------
@pytest.mark.parametrize("keep", ["half", "ten"])
def test_truncated_index_names_the_file(tmp_path: Path, keep: str) -> None:
    bundle, _ = write(tmp_path)
    data = bundle.index_path.read_bytes()
    bundle.index_path.write_bytes(data[: len(data) // 2] if keep == "half" else data[:10])
    with pytest.raises(CheckpointError) as err:
        read_index(bundle.index_path)
    assert str(bundle.index_path) in str(err.value)
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "model.ckpt")


@pytest.mark.parametrize("where", ["first_data_block", "last_data_block", "index_block"])
def test_flipped_byte_in_index_block_fails_checksum(tmp_path: Path, where: str) -> None:
    bundle, _ = write(tmp_path, entries_per_block=4)
    offset, size = {
        "first_data_block": bundle.layout.data_blocks[0],
        "last_data_block": bundle.layout.data_blocks[-1],
        "index_block": bundle.layout.index_block,
    }[where]
    flip(bundle.index_path, offset + size // 2)
    with pytest.raises(CheckpointError, match="checksum") as err:
        read_index(bundle.index_path)
    assert str(bundle.index_path) in str(err.value)


def test_compressed_blocks_are_refused_clearly(tmp_path: Path) -> None:
    bundle, _ = write(tmp_path, compression_type=1)  # snappy, with a valid checksum
    with pytest.raises(CheckpointError, match="compressed"):
        read_index(bundle.index_path)


@pytest.mark.parametrize("kind", ["random", "text"])
def test_other_files_are_not_checkpoint_indexes(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.ckpt.index"
    if kind == "random":
        path.write_bytes(np.random.default_rng(1).bytes(4096))
    else:
        path.write_text("model_checkpoint_path: 'model.ckpt'\n" * 10)
    with pytest.raises(CheckpointError, match="not a TensorFlow checkpoint index") as err:
        read_index(path)
    assert str(path) in str(err.value)


def test_missing_index_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(tmp_path / "absent")
    assert "absent.index" in str(err.value)


# -- a damaged data file ----------------------------------------------------------------------
def test_truncated_data_file(tmp_path: Path) -> None:
    bundle, tensors = write(tmp_path)
    data = bundle.data_path.read_bytes()
    bundle.data_path.write_bytes(data[:-1])
    last = max(bundle.offsets, key=bundle.offsets.__getitem__)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(tmp_path / "model.ckpt")
    message = str(err.value)
    assert str(bundle.data_path) in message
    assert last in message
    assert "past the end" in message and "truncated" in message
    # tensors that lie wholly before the cut are still readable
    first = min(bundle.offsets, key=bundle.offsets.__getitem__)
    out = read_checkpoint(tmp_path / "model.ckpt", names=[first])
    np.testing.assert_array_equal(out[first], tensors[first])


def test_flipped_byte_in_data_fails_checksum_unless_unverified(tmp_path: Path) -> None:
    bundle, tensors = write(tmp_path, gap=2)
    name = "block/dense/kernel"
    flip(bundle.data_path, bundle.offsets[name] + 4)  # low byte of the second float32
    with pytest.raises(CheckpointError, match="checksum") as err:
        read_checkpoint(tmp_path / "model.ckpt", names=[name])
    assert str(bundle.data_path) in str(err.value) and name in str(err.value)

    out = read_checkpoint(tmp_path / "model.ckpt", names=[name], verify=False)[name]
    changed = out != tensors[name]
    assert changed.sum() == 1 and changed.flat[1]
    # the other tensors are intact and still verify
    other = read_checkpoint(tmp_path / "model.ckpt", names=["block/conv/kernel"])
    np.testing.assert_array_equal(other["block/conv/kernel"], tensors["block/conv/kernel"])


def test_missing_data_file(tmp_path: Path) -> None:
    bundle, _ = write(tmp_path)
    bundle.data_path.unlink()
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(tmp_path / "model.ckpt")
    assert str(bundle.index_path) in str(err.value)
    assert "data" in str(err.value)


# -- a real checkpoint ------------------------------------------------------------------------
def musicnn_folder() -> Path:
    """The installed musicnn package's MSD_musicnn folder (located, never imported)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the musicnn wheel is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "MSD_musicnn"
    if not (folder / ".index").is_file():
        pytest.skip(f"{folder} holds no checkpoint")
    return folder


def test_real_musicnn_index() -> None:
    index = read_index(musicnn_folder() / ".index")
    assert index["conv2d/kernel"].shape == (7, 38, 1, 204)
    weights = {
        name: entry
        for name, entry in index.items()
        if entry.dtype == 1 and entry.shape != () and "Adam" not in name and "moving_" not in name
    }
    assert "beta1_power" in index and "beta1_power" not in weights
    assert sum(int(np.prod(e.shape)) for e in weights.values()) == 787_159


def test_real_musicnn_tensor_passes_its_checksum() -> None:
    folder = musicnn_folder()
    out = read_checkpoint(folder, names=["conv2d/bias", "batch_normalization_1/moving_variance"])
    assert out["conv2d/bias"].shape == (204,)
    assert np.isfinite(out["conv2d/bias"]).all() and out["conv2d/bias"].std() > 0
    assert (out["batch_normalization_1/moving_variance"] > 0).all()
