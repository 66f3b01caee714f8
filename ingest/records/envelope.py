"""Blocks and chunks: the envelope every facteur reading travels in, from the van's flash to ingest.

A *block* is what the firmware appends to flash and makes durable; it carries a per-device sequence
number and a CRC-32. A *chunk* is one upload: a run of contiguous blocks, the device id, and an
HMAC-SHA256 over all of it with the device's key. Byte layouts: ``firmware/FORMAT.md``.

Usage::

    body = build_chunk("van-0001", key, [build_block(seq=7, boot_id=3, payload=b"...")])
    chunk = parse_chunk(body)          # raises ChunkError(reason, detail) on any malformation
    if not chunk.verify(key): ...      # constant-time comparison
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import struct
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

BLOCK_MAGIC = b"FB"
CHUNK_MAGIC = b"FCH1"
FORMAT_VERSION = 1
CHUNK_VERSION = 1
FLAG_FIRST_AFTER_BOOT = 0x01

_BLOCK_HEADER = struct.Struct("<2sBBIHH")  # magic, version, flags, seq, boot_id, payload length
BLOCK_HEADER_SIZE = _BLOCK_HEADER.size  # 12
BLOCK_TRAILER_SIZE = 4  # CRC-32
MAX_PAYLOAD = 0xFFFF
_CHUNK_SEQS = struct.Struct("<III")  # first_seq, last_seq, blocks byte length
_U32 = struct.Struct("<I")
MAC_SIZE = 32
MAX_DEVICE_ID = 32
SEQ_MODULUS = 1 << 32
#: CRC-32 of a block's bytes *including* its little-endian CRC trailer, for every intact block: the
#: IEEE CRC-32 residue, so one C call per block checks it without reading the trailer.
_CRC_RESIDUE = 0x2144DF1C
_HEADER_DTYPE = np.dtype(
    [("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("seq", "<u4"), ("boot_id", "<u2"), ("n", "<u2")]
)
_HEADER_OFFSETS = np.arange(BLOCK_HEADER_SIZE)


class ChunkError(ValueError):
    """A malformed block or chunk. ``reason`` is a stable short code; ``detail`` is for humans.

    Reasons: ``truncated``, ``bad_magic``, ``bad_version``, ``bad_length``, ``bad_device_id``,
    ``bad_crc``, ``seq_gap``, ``bad_range``, ``trailing_bytes``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Block(NamedTuple):
    """One durable block: its header fields, its payload (the records) and its raw bytes.

    A named tuple rather than a frozen dataclass: a chunk holds hundreds of blocks, and a frozen
    dataclass takes several times longer to build.
    """

    seq: int
    boot_id: int
    flags: int
    payload: bytes
    raw: bytes

    @property
    def first_after_boot(self) -> bool:
        return bool(self.flags & FLAG_FIRST_AFTER_BOOT)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One upload: contiguous blocks ``first_seq..last_seq`` from ``device_id``, with its MAC."""

    device_id: str
    first_seq: int
    last_seq: int
    blocks: list[Block]
    signed_part: bytes
    mac: bytes

    def verify(self, key: bytes) -> bool:
        """True when ``mac`` is the HMAC-SHA256 of ``signed_part`` under ``key``."""
        expected = hmac.new(key, self.signed_part, hashlib.sha256).digest()
        return hmac.compare_digest(expected, self.mac)

    @property
    def blocks_bytes(self) -> bytes:
        return b"".join(b.raw for b in self.blocks)


def build_block(
    *, seq: int, boot_id: int, payload: bytes, flags: int = 0, version: int = FORMAT_VERSION
) -> bytes:
    """The bytes of one block (header, payload, CRC-32 of everything before the CRC)."""
    if not 0 <= seq < SEQ_MODULUS:
        raise ValueError(f"seq {seq} out of u32 range")
    if not 0 <= boot_id <= 0xFFFF:
        raise ValueError(f"boot_id {boot_id} out of u16 range")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = _BLOCK_HEADER.pack(BLOCK_MAGIC, version, flags & 0xFF, seq, boot_id, len(payload)) + payload
    return head + _U32.pack(zlib.crc32(head))


def _parse_block_at(data: bytes | memoryview, pos: int) -> tuple[Block, int]:
    end_header = pos + BLOCK_HEADER_SIZE
    if len(data) < end_header:
        raise ChunkError("truncated", f"block header at offset {pos} needs {BLOCK_HEADER_SIZE} bytes")
    magic, version, flags, seq, boot_id, n = _BLOCK_HEADER.unpack_from(data, pos)
    if magic != BLOCK_MAGIC:
        raise ChunkError("bad_magic", f"block at offset {pos} starts with {bytes(magic)!r}")
    if version != FORMAT_VERSION:
        raise ChunkError("bad_version", f"block seq {seq} has format version {version}")
    end = end_header + n + BLOCK_TRAILER_SIZE
    if len(data) < end:
        raise ChunkError("truncated", f"block seq {seq} declares {n} payload bytes past the end")
    raw = bytes(data[pos:end])
    crc = int.from_bytes(raw[-BLOCK_TRAILER_SIZE:], "little")
    if zlib.crc32(memoryview(raw)[:-BLOCK_TRAILER_SIZE]) != crc:
        raise ChunkError("bad_crc", f"block at offset {pos} (seq {seq}) fails its CRC-32")
    return Block(seq, boot_id, flags, raw[BLOCK_HEADER_SIZE:-BLOCK_TRAILER_SIZE], raw), end


def parse_blocks(data: bytes | memoryview) -> list[Block]:
    """Every block in ``data``, back to back; raises :class:`ChunkError` on the first bad one.

    Contiguity of sequence numbers is not checked here (see :func:`parse_chunk`).
    """
    fast = _parse_blocks_fast(data)
    return fast[0] if fast is not None else _parse_blocks_one_by_one(data)


def _parse_blocks_one_by_one(data: bytes | memoryview) -> list[Block]:
    """The reference parser: block after block, raising the first block's error in byte order."""
    blocks: list[Block] = []
    pos = 0
    while pos < len(data):
        block, pos = _parse_block_at(data, pos)
        blocks.append(block)
    return blocks


def _parse_blocks_fast(data: bytes | memoryview) -> tuple[list[Block], npt.NDArray[Any]] | None:
    """The blocks and their seqs (u32 array) when every block is intact, else None.

    Only the walk from length to length is per-block Python; the headers are checked as one
    array and the CRCs with one C call per block. Any anomaly returns None: the caller then runs
    :func:`_parse_blocks_one_by_one`, which raises exactly the error the first bad block deserves.
    """
    buf = bytes(data)
    total = len(buf)
    starts: list[int] = []
    append = starts.append
    pos = 0
    last_header = total - BLOCK_HEADER_SIZE
    while pos < total:
        if pos > last_header:
            return None
        append(pos)
        pos += BLOCK_HEADER_SIZE + BLOCK_TRAILER_SIZE + (buf[pos + 10] | buf[pos + 11] << 8)
    if pos != total:
        return None
    if not starts:
        return [], np.zeros(0, np.uint32)
    at = np.array(starts, np.int64)
    head = np.frombuffer(buf, np.uint8)[at[:, None] + _HEADER_OFFSETS].view(_HEADER_DTYPE)[:, 0]
    if not (np.all(head["magic"] == BLOCK_MAGIC) and np.all(head["version"] == FORMAT_VERSION)):
        return None
    ends = [*starts[1:], total]
    raws = [buf[a:b] for a, b in zip(starts, ends, strict=True)]
    if any(crc != _CRC_RESIDUE for crc in map(zlib.crc32, raws)):
        return None
    payloads = [r[BLOCK_HEADER_SIZE:-BLOCK_TRAILER_SIZE] for r in raws]
    seqs = head["seq"]
    blocks = list(map(Block, seqs.tolist(), head["boot_id"].tolist(), head["flags"].tolist(), payloads, raws))
    return blocks, seqs


def build_chunk(device_id: str, key: bytes, blocks: list[bytes]) -> bytes:
    """Sign a run of contiguous blocks (raw bytes, as :func:`build_block` returns) into one chunk."""
    parsed = [_parse_block_at(b, 0)[0] for b in blocks]
    if not parsed:
        raise ValueError("a chunk holds at least one block")
    for prev, cur in itertools.pairwise(parsed):
        if cur.seq != (prev.seq + 1) % SEQ_MODULUS:
            raise ValueError(f"blocks are not contiguous: {prev.seq} then {cur.seq}")
    ident = device_id.encode("ascii")
    if not 1 <= len(ident) <= MAX_DEVICE_ID:
        raise ValueError(f"device id must be 1..{MAX_DEVICE_ID} ASCII bytes")
    body = b"".join(blocks)
    signed = (
        CHUNK_MAGIC
        + bytes([CHUNK_VERSION, len(ident)])
        + ident
        + _CHUNK_SEQS.pack(parsed[0].seq, parsed[-1].seq, len(body))
        + body
    )
    return signed + hmac.new(key, signed, hashlib.sha256).digest()


def parse_chunk(body: bytes | memoryview) -> Chunk:
    """Parse and check one uploaded chunk (not its MAC: call :meth:`Chunk.verify` with the key).

    Checks magic, version, lengths, every block's CRC, and that the blocks are exactly
    ``first_seq..last_seq`` in order. Raises :class:`ChunkError` otherwise.
    """
    data = bytes(body)
    if len(data) < 6:
        raise ChunkError("truncated", f"chunk of {len(data)} bytes is shorter than its header")
    if data[:4] != CHUNK_MAGIC:
        raise ChunkError("bad_magic", f"chunk starts with {data[:4]!r}")
    if data[4] != CHUNK_VERSION:
        raise ChunkError("bad_version", f"chunk version {data[4]}")
    id_len = data[5]
    if not 1 <= id_len <= MAX_DEVICE_ID:
        raise ChunkError("bad_device_id", f"device id length {id_len} not in 1..{MAX_DEVICE_ID}")
    pos = 6 + id_len
    if len(data) < pos + 12:
        raise ChunkError("truncated", "chunk ends inside its header")
    raw_id = data[6:pos]
    if not all(0x21 <= c < 0x7F for c in raw_id):
        raise ChunkError("bad_device_id", f"device id {raw_id!r} is not printable ASCII")
    first_seq, last_seq, nbytes = _CHUNK_SEQS.unpack_from(data, pos)
    pos += 12
    end_blocks = pos + nbytes
    if len(data) < end_blocks + MAC_SIZE:
        raise ChunkError("truncated", f"chunk declares {nbytes} block bytes + MAC, has {len(data) - pos}")
    if len(data) > end_blocks + MAC_SIZE:
        raise ChunkError("trailing_bytes", f"{len(data) - end_blocks - MAC_SIZE} bytes after the MAC")
    count = (last_seq - first_seq) % SEQ_MODULUS + 1
    min_bytes = count * (BLOCK_HEADER_SIZE + BLOCK_TRAILER_SIZE)
    if nbytes < min_bytes:
        raise ChunkError("bad_length", f"{nbytes} block bytes cannot hold seq {first_seq}..{last_seq}")
    fast = _parse_blocks_fast(memoryview(data)[pos:end_blocks])
    if fast is not None:
        blocks, seqs = fast
        expected = (first_seq + np.arange(len(seqs), dtype=np.int64)) % SEQ_MODULUS
        in_order = bool(np.array_equal(seqs, expected))
    else:
        try:
            blocks = _parse_blocks_one_by_one(memoryview(data)[pos:end_blocks])
        except ChunkError as exc:
            # A block that runs past the declared length is a length error of the chunk, not truncation.
            if exc.reason == "truncated":
                raise ChunkError("bad_length", exc.detail) from None
            raise
        in_order = False
    if not in_order:
        expected_seq = first_seq
        for block in blocks:
            if block.seq != expected_seq:
                raise ChunkError("seq_gap", f"expected block seq {expected_seq}, found {block.seq}")
            expected_seq = (expected_seq + 1) % SEQ_MODULUS
    if len(blocks) != count:
        raise ChunkError(
            "bad_range", f"header says {count} blocks ({first_seq}..{last_seq}), found {len(blocks)}"
        )
    return Chunk(
        device_id=raw_id.decode("ascii"),
        first_seq=first_seq,
        last_seq=last_seq,
        blocks=blocks,
        signed_part=data[:end_blocks],
        mac=data[end_blocks:],
    )
