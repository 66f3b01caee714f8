"""Blocks and chunks: the envelope every facteur reading travels in, from the van's flash to ingest.

A *block* is what the firmware appends to flash and makes durable; it carries a per-device sequence
number and a CRC-32. A *chunk* is one upload: a run of contiguous blocks, the device id, and an
HMAC-SHA256 over all of it with the device's key. Byte layouts: ``firmware/FORMAT.md``.

Usage::

    body = build_chunk("van-0001", key, [build_block(seq=7, boot_id=3, payload=b"...")])
    chunk = parse_chunk(body)          # raises ChunkError(reason, detail) on any malformation
    if not chunk.verify(key): ...      # constant-time comparison
    chunk.blocks.seq, chunk.blocks[0]  # the blocks as columns (Blocks), or one as a Block

A chunk holds hundreds of blocks, so its blocks are kept as columns over the chunk's own bytes
(:class:`Blocks`: offsets, seqs, boot ids, flags), not as an object per block; a :class:`Block` is
built only when one is asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

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


@dataclass(frozen=True, slots=True, eq=False)
class Blocks:
    """A run of blocks back to back in one buffer, as columns: what a chunk (or a van's chunks) holds.

    ``data[start[i]:end[i]]`` is block ``i`` (header, payload, CRC) and every block ends where the
    next one starts, so a run's bytes are one slice (:attr:`raw`). ``seq``, ``boot_id`` and
    ``flags`` are its header fields. An int index gives a :class:`Block`, a slice the sub-run
    (the same buffer, no copy); iterating gives every :class:`Block`.
    """

    data: bytes
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    seq: npt.NDArray[np.uint32]
    boot_id: npt.NDArray[np.uint16]
    flags: npt.NDArray[np.uint8]

    @classmethod
    def _packed(
        cls,
        parts: Iterable[bytes],
        sizes: npt.NDArray[np.int64],
        seq: npt.NDArray[np.uint32],
        boot_id: npt.NDArray[np.uint16],
        flags: npt.NDArray[np.uint8],
    ) -> Blocks:
        """A run whose bytes are ``parts`` joined (each a whole number of blocks of ``sizes``)."""
        end = np.cumsum(sizes)
        return cls(b"".join(parts), end - sizes, end, seq, boot_id, flags)

    @classmethod
    def of(cls, blocks: Iterable[Block]) -> Blocks:
        """The run of ``blocks`` (their raw bytes joined in order)."""
        listed = list(blocks)
        for b in listed:
            if len(b.raw) != BLOCK_HEADER_SIZE + len(b.payload) + BLOCK_TRAILER_SIZE:
                raise ValueError(f"block seq {b.seq}: raw bytes do not frame its payload")
        n = len(listed)
        return cls._packed(
            (b.raw for b in listed),
            np.fromiter((len(b.raw) for b in listed), np.int64, n),
            np.fromiter((b.seq for b in listed), np.uint32, n),
            np.fromiter((b.boot_id for b in listed), np.uint16, n),
            np.fromiter((b.flags for b in listed), np.uint8, n),
        )

    @classmethod
    def concat(cls, runs: Sequence[Blocks]) -> Blocks:
        """One run of the blocks of ``runs``, in order (a single run is returned as it is)."""
        if len(runs) == 1:
            return runs[0]
        if not runs:
            return cls.of([])
        return cls._packed(
            (r.raw for r in runs),
            np.concatenate([r.end - r.start for r in runs]),
            np.concatenate([r.seq for r in runs]),
            np.concatenate([r.boot_id for r in runs]),
            np.concatenate([r.flags for r in runs]),
        )

    def take(self, keep: npt.NDArray[np.bool_]) -> Blocks:
        """The blocks where ``keep`` is true, as a new run."""
        if keep.all():
            return self
        picked = np.nonzero(keep)[0]
        start, end = self.start[picked], self.end[picked]
        data = self.data
        return Blocks._packed(
            (data[a:b] for a, b in zip(start.tolist(), end.tolist(), strict=True)),
            end - start,
            self.seq[picked],
            self.boot_id[picked],
            self.flags[picked],
        )

    @property
    def raw(self) -> bytes:
        """The run's bytes: its blocks back to back."""
        return self.data[int(self.start[0]) : int(self.end[-1])] if len(self.start) else b""

    def __len__(self) -> int:
        return len(self.start)

    @overload
    def __getitem__(self, index: int) -> Block: ...
    @overload
    def __getitem__(self, index: slice) -> Blocks: ...
    def __getitem__(self, index: int | slice) -> Block | Blocks:
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise ValueError("a run of blocks is sliced without a step")
            return Blocks(
                self.data,
                self.start[index],
                self.end[index],
                self.seq[index],
                self.boot_id[index],
                self.flags[index],
            )
        a, b = int(self.start[index]), int(self.end[index])
        raw = self.data[a:b]
        return Block(
            int(self.seq[index]),
            int(self.boot_id[index]),
            int(self.flags[index]),
            raw[BLOCK_HEADER_SIZE:-BLOCK_TRAILER_SIZE],
            raw,
        )

    def __iter__(self) -> Iterator[Block]:
        data = self.data
        raws = [data[a:b] for a, b in zip(self.start.tolist(), self.end.tolist(), strict=True)]
        fields = zip(
            self.seq.tolist(),
            self.boot_id.tolist(),
            self.flags.tolist(),
            (r[BLOCK_HEADER_SIZE:-BLOCK_TRAILER_SIZE] for r in raws),
            raws,
            strict=True,
        )
        # tuple.__new__ straight from C: a NamedTuple's own __new__ is a Python function.
        return map(tuple.__new__, itertools.repeat(Block), fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Blocks | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not len(self):
            return "Blocks([])"
        return f"Blocks({len(self)} blocks, seq {int(self.seq[0])}..{int(self.seq[-1])})"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One upload: contiguous blocks ``first_seq..last_seq`` from ``device_id``, with its MAC."""

    device_id: str
    first_seq: int
    last_seq: int
    blocks: Blocks
    signed_part: bytes
    mac: bytes

    def verify(self, key: bytes) -> bool:
        """True when ``mac`` is the HMAC-SHA256 of ``signed_part`` under ``key``."""
        expected = hmac.new(key, self.signed_part, hashlib.sha256).digest()
        return hmac.compare_digest(expected, self.mac)

    @property
    def blocks_bytes(self) -> bytes:
        return self.blocks.raw


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


def parse_blocks(data: bytes | memoryview) -> Blocks:
    """Every block in ``data``, back to back; raises :class:`ChunkError` on the first bad one.

    Contiguity of sequence numbers is not checked here (see :func:`parse_chunk`).
    """
    buf = bytes(data)
    fast = _parse_blocks_fast(buf, 0, len(buf))
    return fast if fast is not None else Blocks.of(_parse_blocks_one_by_one(buf))


def _parse_blocks_one_by_one(data: bytes | memoryview) -> list[Block]:
    """The reference parser: block after block, raising the first block's error in byte order."""
    blocks: list[Block] = []
    pos = 0
    while pos < len(data):
        block, pos = _parse_block_at(data, pos)
        blocks.append(block)
    return blocks


def _parse_blocks_fast(buf: bytes, begin: int, end: int) -> Blocks | None:
    """The blocks of ``buf[begin:end]`` when every one is intact (offsets into ``buf``), else None.

    Only the walk from length to length and the CRC (one C call per block) are per-block Python;
    the headers are checked as one array and no object is built per block. Any anomaly returns
    None: the caller then runs :func:`_parse_blocks_one_by_one`, which raises exactly the error
    the first bad block deserves.
    """
    starts: list[int] = []
    append = starts.append
    pos = begin
    last_header = end - BLOCK_HEADER_SIZE
    while pos < end:
        if pos > last_header:
            return None
        append(pos)
        pos += BLOCK_HEADER_SIZE + BLOCK_TRAILER_SIZE + (buf[pos + 10] | buf[pos + 11] << 8)
    if pos != end:
        return None
    if not starts:
        return Blocks.of([])
    ends = [*starts[1:], end]
    crcs = list(map(zlib.crc32, map(buf.__getitem__, map(slice, starts, ends))))
    if crcs.count(_CRC_RESIDUE) != len(crcs):  # counted in C, not by a generator step per block
        return None
    at = np.array(starts, np.int64)
    head = np.frombuffer(buf, np.uint8)[at[:, None] + _HEADER_OFFSETS].view(_HEADER_DTYPE)[:, 0]
    if not (np.all(head["magic"] == BLOCK_MAGIC) and np.all(head["version"] == FORMAT_VERSION)):
        return None
    return Blocks(
        buf,
        at,
        np.array(ends, np.int64),
        head["seq"].astype(np.uint32),
        head["boot_id"].astype(np.uint16),
        head["flags"].astype(np.uint8),
    )


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
    blocks = _parse_blocks_fast(data, pos, end_blocks)
    if blocks is not None:
        expected = (first_seq + np.arange(len(blocks), dtype=np.int64)) % SEQ_MODULUS
        in_order = bool(np.array_equal(blocks.seq, expected))
    else:
        try:
            listed = _parse_blocks_one_by_one(memoryview(data)[pos:end_blocks])
        except ChunkError as exc:
            # A block that runs past the declared length is a length error of the chunk, not truncation.
            if exc.reason == "truncated":
                raise ChunkError("bad_length", exc.detail) from None
            raise
        blocks = Blocks.of(listed)
        in_order = False
    if not in_order:
        expected_seq = first_seq
        for seq in blocks.seq.tolist():
            if seq != expected_seq:
                raise ChunkError("seq_gap", f"expected block seq {expected_seq}, found {seq}")
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
