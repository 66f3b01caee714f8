"""The vectorised block parser and record walk give exactly what the one-by-one readers give.

Random chunks and payloads, intact and damaged (cut, bytes flipped, blocks swapped, bad counts,
unknown and length-prefixed kinds): same blocks or the same ``ChunkError`` (reason and detail), same
decoded tables (dtype and every value), same errors in the same order, same record count.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import numpy as np
import pytest

from ingest.records import ChunkError, build_block, build_chunk, decode, envelope, parse_blocks, parse_chunk
from ingest.records.decode import Readings, decode_blocks
from ingest.tests.records import previous_decode

KEY = bytes(range(32))
TABLES = ("track", "time", "potholes", "air", "co2", "coverage", "health", "boots")


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def _record(rng: random.Random) -> bytes:
    kind = rng.choice([1, 1, 1, 2, 3, 4, 5, 6, 7, 0x80, 0x80, 0x81, 0xFE, 0, 9, 0x7F])
    if kind == 1:
        n = rng.choice([0, 1, 5, 10, 10, 64, 65, 200])
        head = struct.pack(
            "<BBIBBii", 1, n, rng.getrandbits(32), rng.randrange(256), rng.randrange(256),
            rng.randint(-(2**31), 2**31 - 1), rng.randint(-(2**31), 2**31 - 1),
        )  # fmt: skip
        return head + _random_bytes(rng, 5 * min(n, 12))
    if kind in previous_decode._FIXED:
        return bytes([kind]) + _random_bytes(rng, previous_decode._FIXED[kind][1].size - 1)
    if kind == 7:
        k = rng.choice([0, 3, 20, 32, 33])
        head = struct.pack("<BIHIHIB", 7, *(rng.getrandbits(16) for _ in range(5)), k)
        return head + _random_bytes(rng, 2 * k)
    if kind == 0x80:
        version = rng.choice([b"0.2.0", b"x" * 32, b"x" * 33, b"\x01ab", b""])
        length = max(0, min(255, 8 + len(version) + rng.choice([0, 0, 0, 1, -1, -8])))
        return struct.pack("<BBIHBB", 0x80, length, 5, 6, 1, len(version)) + version
    if kind > 0x80:
        n = rng.randrange(20)
        return bytes([kind, n]) + _random_bytes(rng, n)
    return bytes([kind]) + _random_bytes(rng, rng.randrange(10))


def _payload(rng: random.Random) -> bytes:
    p = b"".join(_record(rng) for _ in range(rng.randint(0, 8)))
    if p and rng.random() < 0.3:
        p = p[: rng.randrange(len(p))]
    if p and rng.random() < 0.2:
        i = rng.randrange(len(p))
        p = p[:i] + bytes([rng.randrange(256)]) + p[i + 1 :]
    return p


def _same_readings(got: Readings, want: Any) -> None:
    assert got.records == want.records
    assert [(e.seq, e.offset, e.reason, e.skipped_bytes) for e in got.errors] == [
        (e.seq, e.offset, e.reason, e.skipped_bytes) for e in want.errors
    ]
    for name in TABLES:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert a.shape == b.shape, name
        for f in a.dtype.names:
            assert np.array_equal(a[f], b[f], equal_nan=a[f].dtype.kind == "f"), (name, f)


@pytest.mark.parametrize("scalar_below", [0, 3, 1 << 30], ids=["numpy", "mixed", "python"])
@pytest.mark.parametrize("seed", range(3))
def test_decode_matches_the_record_by_record_reader(
    seed: int, scalar_below: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every block walked by NumPy steps, by Python record by record, or first one then the other."""
    monkeypatch.setattr(decode, "_SCALAR_BELOW", scalar_below)
    rng = random.Random(seed)
    reasons: set[str] = set()
    for _ in range(500):
        raw = [
            build_block(seq=rng.getrandbits(32), boot_id=rng.randrange(3), payload=_payload(rng))
            for _ in range(rng.randint(0, 6))
        ]
        blocks = parse_blocks(b"".join(raw))
        got = decode_blocks(blocks)
        _same_readings(got, previous_decode.decode_blocks(list(blocks)))
        reasons |= {e.reason for e in got.errors}
    # The damage really reached every rule (else this test would prove little).
    assert reasons >= {
        "unknown_kind", "skipped_kind", "short_record", "bad_track_count", "bad_health_count",
        "bad_boot_length", "bad_firmware_version",
    }  # fmt: skip


def _chunk_outcome(body: bytes) -> tuple[str, Any]:
    try:
        c = parse_chunk(body)
    except ChunkError as exc:
        return "error", (exc.reason, exc.detail)
    return "chunk", (c.device_id, c.first_seq, c.last_seq, c.blocks, c.signed_part, c.mac)


def _damaged(rng: random.Random, body: bytes) -> bytes:
    how = rng.randrange(6)
    if how == 0:  # intact
        return body
    if how == 1:  # a byte flipped anywhere (header, block header, payload, CRC, MAC)
        i = rng.randrange(len(body))
        return body[:i] + bytes([body[i] ^ (1 << rng.randrange(8))]) + body[i + 1 :]
    if how == 2:  # cut
        return body[: rng.randrange(len(body))]
    if how == 3:  # trailing bytes
        return body + _random_bytes(rng, rng.randint(1, 5))
    if how == 4:  # a block's length field changed (the CRC then fails, or the walk runs off)
        i = 6 + body[5] + 12 + 10
        return body[:i] + struct.pack("<H", rng.randrange(0, 200)) + body[i + 2 :]
    i = rng.randrange(6 + body[5] + 12, len(body) - 32)  # a byte set to zero inside the blocks
    return body[:i] + b"\0" + body[i + 1 :]


def _blocks(rng: random.Random, first: int) -> list[bytes]:
    return [
        build_block(
            seq=(first + i) % (1 << 32),
            boot_id=rng.randrange(4),
            payload=_random_bytes(rng, rng.randrange(40)),
        )
        for i in range(rng.randint(1, 8))
    ]


@pytest.mark.parametrize("seed", range(4))
def test_parse_chunk_matches_the_block_by_block_reader(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    bodies = []
    for _ in range(300):
        blocks = _blocks(rng, rng.choice([0, 7, (1 << 32) - 3]))
        signed = build_chunk("van-0001", KEY, blocks)
        if len(blocks) > 2 and rng.random() < 0.2:  # two blocks swapped, CRCs intact: a seq gap
            start = 6 + signed[5] + 12
            blocks[1], blocks[2] = blocks[2], blocks[1]
            signed = signed[:start] + b"".join(blocks) + signed[-32:]
        bodies.append(_damaged(rng, signed))
    fast = [_chunk_outcome(b) for b in bodies]
    monkeypatch.setattr(envelope, "_parse_blocks_fast", lambda *_: None)
    reference = [_chunk_outcome(b) for b in bodies]
    assert fast == reference
    kinds = {o[1][0] for o in fast if o[0] == "error"}
    assert {"bad_crc", "seq_gap", "bad_length", "truncated", "trailing_bytes"} <= kinds
    assert any(o[0] == "chunk" for o in fast)


def test_parse_blocks_matches_on_random_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    datas = [b"".join(_blocks(rng, 0)) for _ in range(200)]
    datas = [_damaged(rng, b"FCH1\x01\x01x" + bytes(12) + d + bytes(32))[19:-32] for d in datas]

    def outcome(data: bytes) -> tuple[str, Any]:
        try:
            return "blocks", parse_blocks(data)
        except ChunkError as exc:
            return "error", (exc.reason, exc.detail)

    fast = [outcome(d) for d in datas]
    monkeypatch.setattr(envelope, "_parse_blocks_fast", lambda *_: None)
    assert fast == [outcome(d) for d in datas]
