"""Upload: MicroPython builds and POSTs HMAC-signed chunks; CPython parses, verifies and acks them.

The gateway here is a test double speaking the HTTP contract (FORMAT.md, "Upload"); it cuts
connections at chosen byte offsets of the request, or after storing but before the reply ends.
Whatever the cuts, every block ends up stored exactly once and the van reclaims its flash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil_tests.firmware.gateway_double import Gateway
from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
BLOCKS = 120

VAN = """
import sys, json, os
sys.path[:0] = ['.']
import asyncio
from flashlog import FlashLog
from records import BlockWriter
from upload import Uploader
root = ROOT
log = FlashLog(root + '/log', seg_max=2048)
seq = log.recover()
w = BlockWriter(boot_id=log.boot_count, first_seq=seq)
for i in range(NBLOCKS):
    for s in range(10):
        w.track_second(i * 10000 + s * 1000, 43700000 + i * 50 + s * 5, 7400000 + s, 900, 30 + s, 12, 400, 9)
    log.append(w.seal())
# 4 KiB chunks (not the default ~hour): a 120-block log then takes several chunks to upload.
up = Uploader(log, 'van-0001', bytes(range(100, 132)), chunk_bytes=4096)
attempts = 0
async def main():
    global attempts
    while log.first_unacked() is not None and attempts < MAX_ATTEMPTS:
        attempts += 1
        await up.run_once('127.0.0.1', PORT)
asyncio.run(main())
segs = [n for n in os.listdir(root + '/log') if n.endswith('.seg')]
print(json.dumps({'attempts': attempts, 'chunks': up.chunks, 'failures': up.failures,
                  'left': log.first_unacked(), 'acked': log.acked, 'segments': len(segs)}))
"""


@pytest.fixture
def flash_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def run_van(micropython: Path, flash: Path, port: int, blocks: int, attempts: int) -> dict[str, int]:
    code = f"ROOT = {str(flash)!r}\nNBLOCKS = {blocks}\nPORT = {port}\nMAX_ATTEMPTS = {attempts}\n" + VAN
    proc = run_micropython(micropython, code, cwd=FIRMWARE, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, int] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_clean_upload_reclaims_flash(micropython: Path, flash_dir: Path) -> None:
    gw = Gateway([])
    try:
        r = run_van(micropython, flash_dir, gw.port, BLOCKS, 5)
    finally:
        gw.close()
    assert sorted(gw.blocks) == list(range(BLOCKS))
    assert gw.duplicates == 0 and gw.rejected == []
    assert r["left"] is None and r["acked"] == BLOCKS - 1 and r["failures"] == 0
    assert r["chunks"] >= 3  # 120 blocks of 10 s do not fit one 4 KiB chunk
    assert r["segments"] <= 1  # only the segment still open for appending may remain


CUTS = [0, 1, 20, 60, 150, 151, 152, 153, 300, 1000, 1500, 2000]


@pytest.mark.parametrize("kind", ["cut_request", "cut_reply"])
def test_interrupted_uploads_resume_without_loss(micropython: Path, flash_dir: Path, kind: str) -> None:
    cuts = CUTS if kind == "cut_request" else [0, 1, 9, 15, 40, 70, 90]
    gw = Gateway([(kind, k) for k in cuts])
    try:
        r = run_van(micropython, flash_dir, gw.port, BLOCKS, 60)
    finally:
        gw.close()
    assert sorted(gw.blocks) == list(range(BLOCKS)), "a block was lost"
    assert gw.rejected == []
    assert r["left"] is None and r["acked"] == BLOCKS - 1
    assert r["failures"] == len(cuts)
    if kind == "cut_reply":
        assert gw.duplicates > 0  # stored but unacknowledged chunks were resent, then deduplicated


@pytest.mark.long
def test_cut_at_every_request_byte(micropython: Path, flash_dir: Path) -> None:
    gw = Gateway([("cut_request", k) for k in range(4400)])
    try:
        r = run_van(micropython, flash_dir, gw.port, 30, 5000)
    finally:
        gw.close()
    assert sorted(gw.blocks) == list(range(30))
    assert r["left"] is None
