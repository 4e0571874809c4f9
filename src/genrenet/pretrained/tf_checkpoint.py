"""Read TensorFlow v2 checkpoints (tensor bundles) without TensorFlow.

A bundle is ``<prefix>.index``, a LevelDB-format table mapping each variable name to a
``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c), and
``<prefix>.data-00000-of-0000N``, the raw little-endian tensors back to back. This module
parses both with the standard library and NumPy, checks every checksum it can, and raises
:class:`CheckpointError` naming the file and the problem when anything does not add up.
"""

from __future__ import annotations

import glob
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrenet.errors import CheckpointError

#: Last 8 bytes of every LevelDB table (``kTableMagicNumber``), little-endian.
TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5  # compression type (1 byte) + masked crc32c (4 bytes)

#: TensorFlow ``DataType`` enum values this reader understands.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
}


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives in the data shard(s), and what it holds."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int | None


# -- crc32c (Castagnoli), as LevelDB and TensorFlow mask it -----------------------------------
def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (pure Python: checkpoints are converted once, then cached)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Undo LevelDB's checksum masking (rotate right by 15 after subtracting a constant)."""
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# -- varints and protobuf wire format ---------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a serialised protobuf message, in order."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("protobuf message runs past its end")
        out.append((number, value))
    return out


def _parse_entry(name: str, value: bytes) -> TensorEntry:
    """Decode a ``BundleEntryProto``."""
    dtype, shape, shard, offset, size, crc = 0, (), 0, 0, 0, None
    for number, field in _proto_fields(value):
        if number == 1:
            dtype = int(field)
        elif number == 2:
            shape = _parse_shape(bytes(field))
        elif number == 3:
            shard = int(field)
        elif number == 4:
            offset = int(field)
        elif number == 5:
            size = int(field)
        elif number == 6:
            crc = int(field)
        elif number == 7:
            raise ValueError("partitioned (sliced) variables are not supported")
    return TensorEntry(name, dtype, shape, shard, offset, size, crc)


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    """Decode a ``TensorShapeProto`` (repeated Dim {int64 size = 1})."""
    dims = []
    for number, field in _proto_fields(buf):
        if number == 2:
            size = next((int(v) for n, v in _proto_fields(bytes(field)) if n == 1), 0)
            dims.append(size)
        elif number == 3 and field:
            raise ValueError("tensor of unknown rank")
    return tuple(dims)


# -- LevelDB table ----------------------------------------------------------------------------
def _read_block(data: bytes, offset: int, size: int, path: Path) -> bytes:
    """One block's contents after checking its bounds, compression byte and checksum."""
    end = offset + size + BLOCK_TRAILER_SIZE
    if offset < 0 or end > len(data):
        raise CheckpointError(f"{path}: a table block lies past the end of the file (truncated?)")
    block = data[offset : offset + size]
    kind = data[offset + size]
    (stored,) = struct.unpack_from("<I", data, offset + size + 1)
    if unmask_crc(stored) != crc32c(data[offset : offset + size + 1]):
        raise CheckpointError(f"{path}: checksum mismatch in a table block (file corrupt)")
    if kind != 0:
        raise CheckpointError(
            f"{path}: compressed table blocks (type {kind}) are not supported; "
            "TensorFlow writes checkpoint indexes uncompressed"
        )
    return block


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of a block (keys are prefix-compressed against the previous key)."""
    if len(block) < 4:
        raise ValueError("block too short")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise ValueError("bad restart count")
    entries, pos, key = [], 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise ValueError("entry runs past the block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _block_handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def read_index(index_path: str | Path) -> dict[str, TensorEntry]:
    """Every tensor entry of a checkpoint's ``.index`` file, by variable name."""
    path = Path(index_path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint index: {err.strerror}") from err
    if len(data) < FOOTER_SIZE:
        raise CheckpointError(f"{path}: {len(data)} bytes is too short for a checkpoint index")
    (magic,) = struct.unpack_from("<Q", data, len(data) - 8)
    if magic != TABLE_MAGIC:
        raise CheckpointError(
            f"{path}: not a TensorFlow checkpoint index "
            "(no table footer: truncated, or another kind of file)"
        )
    footer = data[len(data) - FOOTER_SIZE :]
    try:
        _, _, pos = _block_handle(footer)  # metaindex, unused
        index_offset, index_size, _ = _block_handle(footer, pos)
        entries: dict[str, TensorEntry] = {}
        for _, handle in _block_entries(_read_block(data, index_offset, index_size, path)):
            offset, size, _ = _block_handle(handle)
            for key, value in _block_entries(_read_block(data, offset, size, path)):
                if key == b"":
                    continue  # the BundleHeaderProto
                name = key.decode("utf-8")
                entries[name] = _parse_entry(name, value)
    except CheckpointError:
        raise
    except (ValueError, UnicodeDecodeError, struct.error) as err:
        raise CheckpointError(f"{path}: malformed checkpoint index: {err}") from err
    return entries


def split_prefix(prefix: str | Path) -> tuple[Path, str]:
    """(folder, file stem) of a checkpoint prefix; a folder means files named ``.index`` etc.

    musicnn's checkpoints were saved with a prefix ending in ``/``, so their files are
    ``.index`` and ``.data-00000-of-00001`` inside the model folder.
    """
    path = Path(prefix)
    if path.is_dir():
        return path, ""
    return path.parent, path.name


def read_checkpoint(
    prefix: str | Path, names: list[str] | None = None, verify: bool = True
) -> dict[str, np.ndarray]:
    """Tensors of a checkpoint ``prefix`` (the path without ``.index``) as NumPy arrays.

    ``names`` restricts the result (optimizer slots need not be read); every requested name
    must exist. ``verify`` checks each tensor's crc32c against the index.
    """
    folder, stem = split_prefix(prefix)
    index_path = folder / f"{stem}.index"
    entries = read_index(index_path)
    wanted = list(entries) if names is None else names
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise CheckpointError(f"{index_path}: no variable(s) {', '.join(missing[:5])}")
    shards = sorted(folder.glob(f"{glob.escape(stem)}.data-*-of-*"))
    if not shards:
        raise CheckpointError(f"{index_path}: no data file ({stem}.data-*) beside it")
    n_shards = int(shards[0].name.rsplit("-of-", 1)[1])
    blobs: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        entry = entries[name]
        if entry.dtype not in DTYPES:
            if names is not None:
                raise CheckpointError(
                    f"{index_path}: {name} has TensorFlow dtype {entry.dtype}, which this "
                    "reader does not read (numbers and booleans only)"
                )
            continue  # strings and resources hold no weights
        file = folder / f"{stem}.data-{entry.shard:05d}-of-{n_shards:05d}"
        if entry.shard not in blobs:
            try:
                blobs[entry.shard] = file.read_bytes()
            except OSError as err:
                raise CheckpointError(f"{file}: cannot read: {err.strerror}") from err
        blob = blobs[entry.shard]
        dtype = DTYPES[entry.dtype]
        expected = int(np.prod(entry.shape, dtype=np.int64)) * dtype.itemsize
        if entry.size != expected:
            raise CheckpointError(
                f"{index_path}: {name} has {entry.size} bytes for shape {entry.shape}"
            )
        if entry.offset + entry.size > len(blob):
            raise CheckpointError(
                f"{file}: {name} lies past the end of the file "
                f"({entry.offset + entry.size} > {len(blob)} bytes; truncated?)"
            )
        raw = blob[entry.offset : entry.offset + entry.size]
        if verify and entry.crc32c is not None and unmask_crc(entry.crc32c) != crc32c(raw):
            raise CheckpointError(f"{file}: checksum mismatch for {name} (file corrupt)")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()
    return out
