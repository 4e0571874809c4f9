"""A small, independent writer of TensorFlow v2 checkpoints (tensor bundles), for tests.

It writes ``<prefix>.index`` as a LevelDB table (prefix-compressed data blocks with restart
arrays, masked-crc32c block trailers, an index block, an empty metaindex block and the 48-byte
footer) and ``<prefix>.data-00000-of-00001`` with the raw little-endian tensors. Only the
standard library, NumPy and a crc32c function (passed in, so the reader's can be checked
against known vectors first) are used.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
MASK_DELTA = 0xA282EAD8

#: NumPy dtype -> TensorFlow ``DataType`` enum.
TF_DTYPES: dict[np.dtype, int] = {
    np.dtype("float32"): 1,
    np.dtype("float64"): 2,
    np.dtype("int32"): 3,
    np.dtype("uint8"): 4,
    np.dtype("int16"): 5,
    np.dtype("int8"): 6,
    np.dtype("int64"): 9,
    np.dtype("bool"): 10,
    np.dtype("uint16"): 17,
    np.dtype("float16"): 19,
}


def mask_crc(crc: int) -> int:
    """LevelDB's checksum mask: rotate right by 15 bits, then add a constant (mod 2**32)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


# -- protobuf wire format ---------------------------------------------------------------------
def varint(value: int) -> bytes:
    """Base-128 varint encoding of a non-negative integer."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def varint_field(number: int, value: int) -> bytes:
    """A protobuf field of wire type 0 (varint)."""
    return varint(number << 3) + varint(value)


def bytes_field(number: int, payload: bytes) -> bytes:
    """A protobuf field of wire type 2 (length-delimited)."""
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def fixed32_field(number: int, value: int) -> bytes:
    """A protobuf field of wire type 5 (fixed32)."""
    return varint((number << 3) | 5) + struct.pack("<I", value)


def shape_proto(shape: tuple[int, ...]) -> bytes:
    """``TensorShapeProto``: one ``dim`` (field 2) message ``{int64 size = 1}`` per axis."""
    return b"".join(bytes_field(2, varint_field(1, dim)) for dim in shape)


def entry_proto(dtype: int, shape: tuple[int, ...], offset: int, size: int, crc: int) -> bytes:
    """``BundleEntryProto``: dtype, shape, shard 0 (left at its default), offset, size, crc32c."""
    out = varint_field(1, dtype) + bytes_field(2, shape_proto(shape))
    if offset:
        out += varint_field(4, offset)
    return out + varint_field(5, size) + fixed32_field(6, crc)


def header_proto() -> bytes:
    """``BundleHeaderProto``: one shard, little-endian, version {producer: 1}."""
    return varint_field(1, 1) + varint_field(2, 0) + bytes_field(3, varint_field(1, 1))


# -- LevelDB table ----------------------------------------------------------------------------
def build_block(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    """A block: prefix-compressed entries, then the restart offsets and their count."""
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    if not restarts:
        restarts.append(0)  # an empty block still has one restart point (LevelDB does this)
    out += b"".join(struct.pack("<I", r) for r in restarts)
    return bytes(out + struct.pack("<I", len(restarts)))


@dataclass
class TableLayout:
    """Where the writer put each block, so tests can damage a precise spot."""

    data_blocks: list[tuple[int, int]] = field(default_factory=list)  # (offset, size)
    index_block: tuple[int, int] = (0, 0)
    metaindex_block: tuple[int, int] = (0, 0)


def build_table(
    entries: list[tuple[bytes, bytes]],
    crc: Callable[[bytes], int],
    entries_per_block: int = 1000,
    restart_interval: int = 16,
    compression_type: int = 0,
) -> tuple[bytes, TableLayout]:
    """A LevelDB table of sorted ``entries`` split into blocks of ``entries_per_block``."""
    keys = [k for k, _ in entries]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "keys must be sorted, unique"
    out, layout = bytearray(), TableLayout()

    def put(block: bytes) -> tuple[int, int]:
        offset = len(out)
        kind = bytes([compression_type])
        out.extend(block + kind + struct.pack("<I", mask_crc(crc(block + kind))))
        return offset, len(block)

    index_entries = []
    for start in range(0, len(entries), entries_per_block):
        chunk = entries[start : start + entries_per_block]
        handle = put(build_block(chunk, restart_interval))
        layout.data_blocks.append(handle)
        index_entries.append((chunk[-1][0], varint(handle[0]) + varint(handle[1])))
    layout.metaindex_block = put(build_block([], restart_interval))
    layout.index_block = put(build_block(index_entries, 1))
    handles = b"".join(varint(v) for v in (*layout.metaindex_block, *layout.index_block))
    out += handles.ljust(40, b"\0") + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out), layout


# -- bundles ----------------------------------------------------------------------------------
@dataclass
class Bundle:
    """Paths and layout of a written bundle."""

    index_path: Path
    data_path: Path
    layout: TableLayout
    offsets: dict[str, int]  # each tensor's byte offset in the data file


def write_bundle(
    folder: Path,
    stem: str,
    tensors: dict[str, np.ndarray],
    crc: Callable[[bytes], int],
    entries_per_block: int = 1000,
    restart_interval: int = 16,
    gap: int = 0,
    compression_type: int = 0,
) -> Bundle:
    """Write ``folder/<stem>.index`` and ``folder/<stem>.data-00000-of-00001``.

    ``gap`` junk bytes go before every tensor, so a reader must honour the stored offsets.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data, offsets, entries = bytearray(), {}, [(b"", header_proto())]
    for name in sorted(tensors, key=lambda n: n.encode()):
        array = np.asarray(tensors[name])
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        data += b"\xa5" * gap
        offsets[name] = len(data)
        data += raw
        proto = entry_proto(
            TF_DTYPES[array.dtype], array.shape, offsets[name], len(raw), mask_crc(crc(raw))
        )
        entries.append((name.encode(), proto))
    table, layout = build_table(entries, crc, entries_per_block, restart_interval, compression_type)
    index_path = folder / f"{stem}.index"
    data_path = folder / f"{stem}.data-00000-of-00001"
    index_path.write_bytes(table)
    data_path.write_bytes(bytes(data))
    return Bundle(index_path, data_path, layout, offsets)
