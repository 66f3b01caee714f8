"""BOOT records (firmware version) from firmware bytes to ``/v1/fleet/devices``, over real HTTP.

The BOOT blocks are encoded by the firmware's own ``records.py`` on MicroPython; the drive after
them is the synthetic one. A boot uploaded before its time anchor is dated when the anchor arrives;
a later boot's version replaces the earlier one in fleet health; an unknown length-prefixed kind is
skipped and counted in quarantine while the records around it are stored.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import httpx
import psycopg
import pytest

from ingest.chunks.batch import CHUNK_MEDIA_TYPE
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import build_block, build_chunk
from ingest.testing import IngestService, run_micropython

pytestmark = pytest.mark.timeout(120)

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"

ENCODE = """
import sys, json, binascii
sys.path.insert(0, '.')
from records import BlockWriter
out = []
for boot_id, seq, ticks, count, cause, version in json.loads(BOOTS):
    w = BlockWriter(boot_id=boot_id, first_seq=seq)
    w.boot(ticks, count, cause, version)
    out.append(binascii.hexlify(w.seal()).decode())
print(json.dumps(out))
"""


def firmware_boot_blocks(micropython: Path, boots: list[tuple[int, int, int, int, int, str]]) -> list[bytes]:
    code = f"BOOTS = {json.dumps(json.dumps(boots))}\n" + ENCODE
    proc = run_micropython(micropython, code, cwd=FIRMWARE)
    assert proc.returncode == 0, proc.stderr
    return [bytes.fromhex(h) for h in json.loads(proc.stdout.strip().splitlines()[-1])]


def post(svc: IngestService, token: str, device: str, key: bytes, blocks: list[bytes]) -> None:
    r = httpx.post(
        f"{svc.url}/v1/chunks",
        content=build_chunk(device, key, blocks),
        headers={"Authorization": f"Bearer {token}", "Content-Type": CHUNK_MEDIA_TYPE},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def fleet_entry(svc: IngestService, device: str) -> dict[str, object]:
    r = httpx.get(f"{svc.url}/v1/fleet/devices", timeout=30)
    assert r.status_code == 200, r.text
    entry: dict[str, object] = next(d for d in r.json()["devices"] if d["device_id"] == device)
    return entry


def test_firmware_version_reaches_fleet_health(ingest_service: IngestService, micropython: Path) -> None:
    svc = ingest_service
    device, key = svc.add_device()
    _, token = svc.add_gateway()
    assert fleet_entry(svc, device)["firmware_version"] is None  # nothing uploaded yet

    boot1, boot2 = firmware_boot_blocks(
        micropython, [(4, 0, 120, 4, 1, "0.2.0"), (5, 7, 80, 5, 3, "0.3.0-rc1")]
    )
    # The boot block arrives alone, before any GNSS time of its boot: stored, undated.
    post(svc, token, device, key, [boot1])
    entry = fleet_entry(svc, device)
    assert (entry["firmware_version"], entry["reset_cause"], entry["booted_at"]) == (
        "0.2.0",
        "power_on",
        None,
    )

    # The boot's drive brings the time anchor: the boot gets its UTC from it.
    post(svc, token, device, key, synthetic_blocks(1, 6, boot_id=4))
    with psycopg.connect(svc.database_url) as conn:
        anchor = conn.execute(
            "SELECT ticks, utc FROM boot_anchors WHERE device_id = %s AND boot_id = 4", (device,)
        ).fetchone()
        booted = conn.execute(
            "SELECT extract(epoch FROM time)::float8 FROM device_boots WHERE device_id = %s AND seq = 0",
            (device,),
        ).fetchone()
    assert anchor is not None and booted is not None
    assert booted[0] == pytest.approx(anchor[1] + (120 - anchor[0]) / 1000.0, abs=1e-3)
    assert fleet_entry(svc, device)["booted_at"] is not None

    # A reboot (watchdog) into new firmware: its block, an unknown length-prefixed record and an AIR
    # record in one block after it.
    air = struct.pack("<BIBHHH", 4, 900, 3, 1, 2, 3)
    future = build_block(seq=8, boot_id=5, payload=b"\x9a\x03xyz" + air)
    post(svc, token, device, key, [boot2, future])
    entry = fleet_entry(svc, device)
    assert (entry["firmware_version"], entry["reset_cause"]) == ("0.3.0-rc1", "watchdog")
    with psycopg.connect(svc.database_url) as conn:
        reasons = conn.execute(
            "SELECT kind, reason FROM quarantine WHERE device_id = %s", (device,)
        ).fetchall()
        boots = conn.execute(
            "SELECT seq, boot_count, reset_cause, firmware_version FROM device_boots WHERE device_id = %s "
            "ORDER BY seq",
            (device,),
        ).fetchall()
    # the unknown record is counted; the AIR record after it was decoded (it waits, undated, for
    # its boot's first GNSS time like any reading of a boot without an anchor yet)
    assert sorted(reasons) == [("air", "no_time"), ("decode", "skipped_kind")]
    assert boots == [(0, 4, 1, "0.2.0"), (7, 5, 3, "0.3.0-rc1")]

    # A replay of everything changes nothing.
    post(svc, token, device, key, [boot1, *synthetic_blocks(1, 6, boot_id=4), boot2, future])
    with psycopg.connect(svc.database_url) as conn:
        n = conn.execute("SELECT count(*) FROM device_boots WHERE device_id = %s", (device,)).fetchone()
    assert n == (2,)
