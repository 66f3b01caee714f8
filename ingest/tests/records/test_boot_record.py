"""The BOOT record (kind 0x80, firmware version): MicroPython encodes, CPython decodes; the
length-prefixed kinds' compatibility rule (an unknown one is skipped and counted, decoding goes on)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ingest.records import build_block, parse_blocks
from ingest.records.decode import EPOCH_2000, decode_blocks
from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"

ENCODE = """
import sys, json, binascii
sys.path.insert(0, '.')
from records import BlockWriter
from version import VERSION
w = BlockWriter(boot_id=5, first_seq=300)
w.boot(70, 5, 3, VERSION)
first = w.seal()
w.boot(80, 5, 255, 'x' * 40)           # longer than 32 bytes: cut to 32
w.air(90, 3, 1, 2, 3)
w.time_sync(100, 849_000_000, 0)
second = w.seal()
print(json.dumps([VERSION, binascii.hexlify(first).decode(), binascii.hexlify(second).decode()]))
"""


@pytest.fixture(scope="module")
def encoded(micropython: Path) -> tuple[str, bytes]:
    proc = run_micropython(micropython, ENCODE, cwd=FIRMWARE)
    assert proc.returncode == 0, proc.stderr
    version, *blocks = json.loads(proc.stdout.strip().splitlines()[-1])
    return version, b"".join(bytes.fromhex(h) for h in blocks)


def test_boot_record_round_trip(encoded: tuple[str, bytes]) -> None:
    version, raw = encoded
    assert version == (FIRMWARE / "version.py").read_text().split('VERSION = "')[1].split('"')[0]
    blocks = parse_blocks(raw)
    # the firmware's boot block holds the BOOT record alone: 12 header + 10 + len(version) + 4 CRC
    assert len(blocks[0].payload) == 10 + len(version)
    r = decode_blocks(blocks)
    assert r.errors == []
    assert [(int(b["seq"]), int(b["boot_id"]), int(b["ticks"])) for b in r.boots] == [
        (300, 5, 70),
        (301, 5, 80),
    ]
    assert list(r.boots["firmware_version"]) == [version, "x" * 32]
    assert list(r.boots["reset_cause"]) == [3, 255]
    assert list(r.boots["boot_count"]) == [5, 5]
    # dated from the boot's TIME record like every other reading; the AIR record after it is decoded
    assert r.boots["utc"][0] == pytest.approx(EPOCH_2000 + 849_000_000 - 0.030)
    assert len(r.air) == 1 and int(r.air["pm10"][0]) == 3


def _boot(version: bytes, *, length: int | None = None, count: int | None = None) -> bytes:
    n = len(version) if count is None else count
    body = struct.pack("<IHBB", 1234, 9, 1, n) + version
    return struct.pack("<BB", 0x80, len(body) if length is None else length) + body


AIR = struct.pack("<BIBHHH", 4, 100, 1, 2, 3, 4)

CASES = [
    # (name, payload after one good AIR record, reason or None, boots decoded, AIR records decoded)
    ("good", _boot(b"1.2.3") + AIR, None, 1, 2),
    ("unknown length-prefixed kind is skipped", b"\x91\x03abc" + AIR, "skipped_kind", 0, 2),
    ("unknown kind with empty body", b"\xff\x00" + AIR, "skipped_kind", 0, 2),
    ("length runs past the payload", b"\x91\x09abc", "short_record", 0, 1),
    ("kind byte alone", b"\x80", "short_record", 0, 1),
    ("boot shorter than its head", b"\x80\x03abc" + AIR, "short_record", 0, 1),
    ("version length disagrees", _boot(b"1.2.3", count=4) + AIR, "bad_boot_length", 0, 1),
    ("version not printable", _boot(b"1.2\x00") + AIR, "bad_firmware_version", 0, 1),
    ("version too long", _boot(b"v" * 33) + AIR, "bad_boot_length", 0, 1),
    ("unknown fixed kind still ends the block", b"\x7f\x00\x00" + AIR, "unknown_kind", 0, 1),
]


@pytest.mark.parametrize(("name", "tail", "reason", "boots", "airs"), CASES, ids=[c[0] for c in CASES])
def test_length_prefixed_kinds(name: str, tail: bytes, reason: str | None, boots: int, airs: int) -> None:
    r = decode_blocks(parse_blocks(build_block(seq=1, boot_id=1, payload=AIR + tail)))
    assert len(r.boots) == boots
    assert len(r.air) == airs
    if reason is None:
        assert r.errors == []
        assert r.boots["firmware_version"][0] == "1.2.3"
    else:
        (err,) = r.errors
        assert (err.seq, err.offset, err.reason) == (1, len(AIR), reason)
        assert err.skipped_bytes == (len(tail) - len(AIR) if reason == "skipped_kind" else len(tail))
