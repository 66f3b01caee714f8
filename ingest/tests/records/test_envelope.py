"""The block/chunk envelope: round trips, and every kind of damage gives a ChunkError with a stable reason."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.records import (
    BLOCK_HEADER_SIZE,
    FLAG_FIRST_AFTER_BOOT,
    Blocks,
    ChunkError,
    build_block,
    build_chunk,
    parse_blocks,
    parse_chunk,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(32)


def blocks(first: int, count: int, boot_id: int = 3) -> list[bytes]:
    return [
        build_block(
            seq=(first + i) % (1 << 32),
            boot_id=boot_id,
            payload=bytes([i % 256]) * (i * 7 % 40),
            flags=FLAG_FIRST_AFTER_BOOT if i == 0 else 0,
        )
        for i in range(count)
    ]


def sign(signed: bytes) -> bytes:
    return signed + hmac.new(KEY, signed, hashlib.sha256).digest()


def raw_chunk(first: int, last: int, body: bytes, *, ident: bytes = b"van-0001", version: int = 1) -> bytes:
    return sign(
        b"FCH1" + bytes([version, len(ident)]) + ident + struct.pack("<III", first, last, len(body)) + body
    )


def test_block_layout_is_byte_exact() -> None:
    raw = build_block(seq=0x01020304, boot_id=0x0506, payload=b"\xaa\xbb", flags=1)
    head = b"FB\x01\x01\x04\x03\x02\x01\x06\x05\x02\x00\xaa\xbb"
    assert raw == head + struct.pack("<I", zlib.crc32(head))
    (block,) = parse_blocks(raw)
    assert (block.seq, block.boot_id, block.flags, block.payload, block.raw) == (
        0x01020304,
        0x0506,
        1,
        b"\xaa\xbb",
        raw,
    )
    assert block.first_after_boot


def test_chunk_layout_is_byte_exact() -> None:
    (b,) = blocks(9, 1)
    body = build_chunk("van-0001", KEY, [b])
    expected = b"FCH1\x01\x08van-0001" + struct.pack("<III", 9, 9, len(b)) + b
    assert body == expected + hmac.new(KEY, expected, hashlib.sha256).digest()


@pytest.mark.parametrize(
    ("first", "count"),
    [(0, 1), (1, 2), (41, 17), (0xFFFFFFFE, 4)],  # the last one wraps the u32 sequence
)
def test_round_trip(first: int, count: int) -> None:
    raw = blocks(first, count)
    chunk = parse_chunk(build_chunk("van-0001", KEY, raw))
    assert chunk.device_id == "van-0001"
    assert chunk.first_seq == first
    assert chunk.last_seq == (first + count - 1) % (1 << 32)
    assert [b.raw for b in chunk.blocks] == raw
    assert chunk.blocks_bytes == b"".join(raw)
    assert chunk.verify(KEY)
    assert not chunk.verify(OTHER_KEY)


def test_a_run_of_blocks_slices_joins_and_picks_like_a_list() -> None:
    """Blocks (columns over one buffer) against the list of Block objects it stands for."""
    raw = blocks(10, 12)
    chunk = parse_chunk(build_chunk("van-0001", KEY, raw))
    listed = list(chunk.blocks)
    assert [b.seq for b in listed] == list(range(10, 22)) and chunk.blocks[3] == listed[3]
    part = chunk.blocks[2:7]
    assert list(part) == listed[2:7] and part.raw == b"".join(raw[2:7])
    joined = Blocks.concat([chunk.blocks[8:], chunk.blocks[:3]])  # any order: the runs' order
    assert list(joined) == listed[8:] + listed[:3] and joined.raw == b"".join(raw[8:] + raw[:3])
    keep = (chunk.blocks.seq % 3 == 0) | (chunk.blocks.seq == 21)
    picked = joined.take(np.isin(joined.seq, chunk.blocks.seq[keep]))
    assert [b.seq for b in picked] == [18, 21, 12] and picked.raw == raw[8] + raw[11] + raw[2]
    assert list(parse_blocks(picked.raw)) == list(picked)
    assert Blocks.of(listed) == chunk.blocks and len(Blocks.concat([])) == 0


GOOD = b"".join(blocks(5, 3))

CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "truncated"),
    ("short header", b"FCH1\x01", "truncated"),
    ("wrong magic", b"FCH2" + raw_chunk(5, 7, GOOD)[4:], "bad_magic"),
    ("http garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(64), "bad_magic"),
    ("wrong version", raw_chunk(5, 7, GOOD, version=2), "bad_version"),
    ("empty device id", raw_chunk(5, 7, GOOD, ident=b""), "bad_device_id"),
    ("device id too long", raw_chunk(5, 7, GOOD, ident=b"v" * 33), "bad_device_id"),
    ("device id with space", raw_chunk(5, 7, GOOD, ident=b"van 01"), "bad_device_id"),
    ("first seq past blocks", raw_chunk(6, 7, GOOD), "seq_gap"),
    ("last seq before end", raw_chunk(5, 6, GOOD), "bad_range"),
    ("last seq past end", raw_chunk(5, 8, GOOD), "bad_range"),
    ("huge range", raw_chunk(5, 4, GOOD), "bad_length"),
    ("gap between blocks", raw_chunk(5, 7, blocks(5, 1)[0] + b"".join(blocks(7, 2))), "seq_gap"),
    ("blocks out of order", raw_chunk(5, 7, b"".join(reversed(blocks(5, 3)))), "seq_gap"),
    ("no blocks", raw_chunk(5, 5, b""), "bad_length"),
    ("block garbage", raw_chunk(5, 5, b"\x00" * 20), "bad_magic"),
    (
        "block of version 2",
        raw_chunk(5, 5, build_block(seq=5, boot_id=1, payload=b"", version=2)),
        "bad_version",
    ),
    ("block cut short", raw_chunk(5, 7, GOOD[:-1]), "bad_length"),
    ("trailing bytes", raw_chunk(5, 7, GOOD) + b"\x00", "trailing_bytes"),
]


@pytest.mark.parametrize(("name", "body", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rejections(name: str, body: bytes, reason: str) -> None:
    with pytest.raises(ChunkError) as info:
        parse_chunk(body)
    assert info.value.reason == reason, info.value.detail
    assert info.value.detail


def test_bad_block_crc() -> None:
    damaged = bytearray(GOOD)
    damaged[BLOCK_HEADER_SIZE] ^= 0x10  # first payload byte of the first block
    with pytest.raises(ChunkError) as info:
        parse_chunk(raw_chunk(5, 7, bytes(damaged)))
    assert info.value.reason == "bad_crc"


def test_truncation_at_every_byte() -> None:
    body = build_chunk("van-0001", KEY, blocks(100, 4))
    for cut in range(len(body)):
        with pytest.raises(ChunkError) as info:
            parse_chunk(body[:cut])
        assert info.value.reason in {"truncated", "bad_length"}, (cut, info.value)


def test_every_flipped_bit_is_caught() -> None:
    body = build_chunk("van-0001", KEY, blocks(100, 3))
    for bit in range(len(body) * 8):
        damaged = bytearray(body)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            chunk = parse_chunk(bytes(damaged))
        except ChunkError:
            continue
        assert not chunk.verify(KEY), f"bit {bit} flipped and the chunk still verifies"


def test_parse_blocks_reports_truncated_tail() -> None:
    data = b"".join(blocks(1, 3))
    assert [b.seq for b in parse_blocks(data)] == [1, 2, 3]
    for cut in range(1, len(data)):
        if cut in {len(b"".join(blocks(1, k))) for k in (1, 2)}:
            assert parse_blocks(data[:cut])
            continue
        with pytest.raises(ChunkError):
            parse_blocks(data[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    for candidate in (data, b"FCH1\x01\x08van-0001" + data):
        with contextlib.suppress(ChunkError):
            parse_chunk(candidate)


def test_build_refuses_non_contiguous_blocks() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        build_chunk("van-0001", KEY, [*blocks(1, 1), *blocks(3, 1)])
    with pytest.raises(ValueError, match="at least one"):
        build_chunk("van-0001", KEY, [])
