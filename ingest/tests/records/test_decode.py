"""Payload records: MicroPython's encoder (firmware/records.py) -> CPython's vectorised decoder."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from ingest.records import build_block, parse_blocks
from ingest.records.decode import EPOCH_2000, decode_blocks
from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"

# (method, args) calls on firmware's BlockWriter; None = no fix / no data.
ENCODE = """
import sys, json, binascii
sys.path.insert(0, '.')
from records import BlockWriter
w = BlockWriter(boot_id=7, first_seq=41)
out = []
calls = json.loads(CALLS)
for name, args in calls:
    if name == 'seal':
        b = w.seal()
        if b is not None:
            out.append(binascii.hexlify(b).decode())
        continue
    ok = getattr(w, name)(*args)
    if not ok:
        out.append(binascii.hexlify(w.seal()).decode())
        getattr(w, name)(*args)
b = w.seal()
if b is not None:
    out.append(binascii.hexlify(b).decode())
print(json.dumps(out))
"""

LAT0, LON0 = 43_738_300, 7_424_600  # Monaco, 1e-6 deg

CALLS: list[tuple[str, list[object]]] = [
    # before the first fix: roughness only
    ("track_second", [1000, None, None, None, 40, None, 300, None]),
    ("track_second", [2000, None, None, None, 45, None, 350, None]),
    ("time_sync", [2500, 849_000_000, 250]),
    ("track_second", [3000, LAT0, LON0, 1400, 120, 30, 900, 12]),
    ("track_second", [4000, LAT0 + 126, LON0 - 95, 1410, 130, 33, 1200, 9]),
    ("track_second", [5000, LAT0 + 252, LON0 - 190, 1390, 2000, 250, 4000, 15]),
    ("pothole", [5300, LAT0 + 240, LON0 - 180, 1390, 3200, 25, 2]),
    ("air", [5400, 30, 4, 7, 11]),
    ("co2", [5500, 612, 2156, 93]),
    ("coverage", [5600, 7, 45, 20, 110, 20801]),
    ("coverage", [5700, 7, 255, 255, -32768, 0]),
    ("track_second", [6000, None, None, None, None, None, None, None]),
    ("track_second", [7000, LAT0 + 5000, LON0, 0, 10, None, 50, 20]),  # jump > i8: new TRACK record
    ("seal", []),
    ("health", [8000, 12, 30_000, 900, 3, [5, 0, 70_000]]),
    ("track_second", [9000, LAT0 + 5010, LON0 + 10, 100, 10, 0, 50, 20]),
]


@pytest.fixture(scope="module")
def encoded(micropython: Path) -> list[bytes]:
    code = f"CALLS = {json.dumps(json.dumps(CALLS))}\n" + ENCODE
    proc = run_micropython(micropython, code, cwd=FIRMWARE)
    assert proc.returncode == 0, proc.stderr
    return [bytes.fromhex(h) for h in json.loads(proc.stdout)]


def test_blocks_are_contiguous_and_flagged(encoded: list[bytes]) -> None:
    blocks = parse_blocks(b"".join(encoded))
    assert [b.seq for b in blocks] == [41, 42]
    assert [b.first_after_boot for b in blocks] == [True, False]
    assert {b.boot_id for b in blocks} == {7}


def test_track_round_trip(encoded: list[bytes]) -> None:
    r = decode_blocks(parse_blocks(b"".join(encoded)))
    assert r.errors == []
    t = r.track
    assert list(t["ticks"]) == [1000, 2000, 3000, 4000, 5000, 6000, 7000, 9000]
    assert list(t["fix"]) == [False, False, True, True, True, False, True, True]
    lat = t["lat"][t["fix"]] * 1e6
    lon = t["lon"][t["fix"]] * 1e6
    expected_lat = [LAT0, LAT0 + 126, LAT0 + 252, LAT0 + 5000, LAT0 + 5010]
    expected_lon = [LON0, LON0 - 95, LON0 - 190, LON0, LON0 + 10]
    assert np.all(np.abs(lat - expected_lat) <= 5)  # 1e-5 degree deltas, no drift
    assert np.all(np.abs(lon - expected_lon) <= 5)
    assert t["speed"][3] == pytest.approx(14.0, abs=0.13)
    assert t["rms"][0] == pytest.approx(0.040)
    assert t["rms"][4] == pytest.approx(1.27)  # saturated at 254 * 5 mg
    assert math.isnan(t["rms"][5])
    assert t["norm"][4] == pytest.approx(250)
    assert math.isnan(t["norm"][0])
    # Seconds before the first fix get their UTC from the TIME record read later in the same boot.
    utc0 = EPOCH_2000 + 849_000_000 + 0.25
    assert t["utc"][0] == pytest.approx(utc0 - 1.5)
    assert t["utc"][-1] == pytest.approx(utc0 + 6.5)
    assert t["hdop"][2] == pytest.approx(1.5)


def test_other_records_round_trip(encoded: list[bytes]) -> None:
    r = decode_blocks(parse_blocks(b"".join(encoded)))
    (p,) = r.potholes
    assert (p["severity"], p["ticks"]) == (2, 5300)
    assert p["lat"] * 1e6 == pytest.approx(LAT0 + 240)
    assert p["peak"] == pytest.approx(3.2)
    assert p["xz_ratio"] == pytest.approx(2.5)
    (a,) = r.air
    assert (a["frames"], a["pm1"], a["pm25"], a["pm10"]) == (30, 4, 7, 11)
    (c,) = r.co2
    assert (c["co2"], c["temperature"], c["humidity"]) == (612, pytest.approx(21.56), 46.5)
    known, unknown = r.coverage
    assert (known["rat"], known["rsrp"], known["rsrq"], known["sinr"], known["plmn"]) == (
        7,
        -96.0,
        -10.0,
        pytest.approx(2.0),
        20801,
    )
    assert math.isnan(unknown["rsrp"]) and math.isnan(unknown["rsrq"]) and math.isnan(unknown["sinr"])
    assert unknown["rsrp_raw"] == 255
    (h,) = r.health
    assert (h["boot_count"], h["free_heap"], h["flash_used_kb"], h["dropped_blocks"]) == (12, 30_000, 900, 3)
    assert list(h["counters"][: h["n_counters"]]) == [5, 0, 0xFFFF]
    assert h["utc"] == pytest.approx(EPOCH_2000 + 849_000_000 + 0.25 + 5.5)


BAD_PAYLOADS = [
    ("unknown kind", b"\x7f\x00\x00", "unknown_kind"),
    ("short air", b"\x04\x00\x00", "short_record"),
    ("track of 0", struct.pack("<BBIBBii", 1, 0, 0, 255, 0, 0, 0), "bad_track_count"),
    ("track cut", struct.pack("<BBIBBii", 1, 3, 0, 255, 0, 0, 0) + b"\x00" * 7, "short_record"),
    ("health cut", struct.pack("<BIHIHIB", 7, 0, 1, 2, 3, 4, 5) + b"\x00\x00", "short_record"),
]


@pytest.mark.parametrize(("name", "garbage", "reason"), BAD_PAYLOADS, ids=[c[0] for c in BAD_PAYLOADS])
def test_bad_record_is_counted_next_to_good_ones(name: str, garbage: bytes, reason: str) -> None:
    good = struct.pack("<BIBHHH", 4, 100, 1, 2, 3, 4)
    blocks = parse_blocks(
        build_block(seq=1, boot_id=1, payload=good + garbage) + build_block(seq=2, boot_id=1, payload=good)
    )
    r = decode_blocks(blocks)
    assert len(r.air) == 2
    assert [(e.seq, e.offset, e.reason, e.skipped_bytes) for e in r.errors] == [
        (1, len(good), reason, len(garbage))
    ]


def test_random_payloads_never_crash() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        payload = rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
        r = decode_blocks(parse_blocks(build_block(seq=1, boot_id=1, payload=payload)))
        assert r.records + len(r.errors) >= (1 if payload else 0)


def _time(ticks: int, utc_s: int) -> bytes:
    return struct.pack("<BIIH", 2, ticks, utc_s, 0)


def _air(ticks: int) -> bytes:
    return struct.pack("<BIBHHH", 4, ticks, 1, 2, 3, 4)


@pytest.mark.parametrize("jump_s", [3600, -86_400, 1024 * 7 * 86_400])
def test_a_receiver_time_glitch_does_not_date_readings(jump_s: int) -> None:
    """TIME records every 600 s; the third reports a time ``jump_s`` off (a receiver glitch): it is
    counted as ``time_outlier`` and the readings after it are dated from the records that agree."""
    utc0 = 849_000_000
    blocks = []
    for k in range(5):
        ticks = 1_000 + k * 600_000
        wrong = jump_s if k == 2 else 0
        payload = _time(ticks, utc0 + k * 600 + wrong) + _air(ticks + 5_000)
        blocks.append(build_block(seq=k, boot_id=7, payload=payload))
    r = decode_blocks(parse_blocks(b"".join(blocks)))
    assert [(e.seq, e.reason) for e in r.errors] == [(2, "time_outlier")]
    assert len(r.time) == 4
    assert r.air["utc"] - (EPOCH_2000 + utc0) == pytest.approx([k * 600 + 5.0 for k in range(5)])


def test_a_leap_second_is_not_a_glitch() -> None:
    """UTC one second behind from the third record on (a leap second): no record is refused."""
    blocks = [
        build_block(seq=k, boot_id=1, payload=_time(k * 600_000, 849_000_000 + k * 600 - (k >= 2)))
        for k in range(5)
    ]
    r = decode_blocks(parse_blocks(b"".join(blocks)))
    assert r.errors == []
    assert len(r.time) == 5
