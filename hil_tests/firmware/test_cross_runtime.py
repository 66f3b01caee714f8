"""The envelope the other way round: CPython writes, MicroPython reads and signs the same bytes.

- blocks built by ``ingest.records.build_block`` are recovered by the firmware's flash log
  (headers, CRC-32, contiguity), and a torn CPython-written tail is dropped, not surfaced;
- the firmware's chunk for those blocks is byte-for-byte CPython's ``build_chunk``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ingest.records import build_block, build_chunk, parse_chunk
from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
KEY = bytes(range(7, 39))

READ = """
import sys, json, binascii
sys.path[:0] = ['.']
from flashlog import FlashLog
from upload import HMACSHA256, build_chunk
log = FlashLog(ROOT + '/log')
nxt = log.recover()
out = bytearray(4096)
n, first, last = log.read_from(log.first_unacked(), out)
mac = HMACSHA256(bytes(range(7, 39)))
chunk = build_chunk(mac, 'van-0042', first, last, memoryview(out)[:n])
print(json.dumps({'next': nxt, 'first': first, 'last': last, 'torn': log.torn,
                  'blocks': binascii.hexlify(out[:n]).decode(), 'chunk': binascii.hexlify(chunk).decode()}))
"""


def test_micropython_reads_and_signs_cpython_blocks(micropython: Path, tmp_path: Path) -> None:
    blocks = [
        build_block(seq=100 + i, boot_id=9, payload=bytes([i]) * (i * 13 % 90), flags=int(i == 0))
        for i in range(12)
    ]
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "00000000.seg").write_bytes(b"".join(blocks[:7]))
    torn = build_block(seq=112, boot_id=9, payload=b"lost at power cut")
    (tmp_path / "log" / "00000001.seg").write_bytes(b"".join(blocks[7:]) + torn[:-3])
    proc = run_micropython(micropython, f"ROOT = {str(tmp_path)!r}\n" + READ, cwd=FIRMWARE)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (got["next"], got["first"], got["last"], got["torn"]) == (112, 100, 111, 1)
    assert bytes.fromhex(got["blocks"]) == b"".join(blocks)
    chunk = bytes.fromhex(got["chunk"])
    assert chunk == build_chunk("van-0042", KEY, blocks)
    parsed = parse_chunk(chunk)
    assert parsed.verify(KEY) and [b.seq for b in parsed.blocks] == list(range(100, 112))
