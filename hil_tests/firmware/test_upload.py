"""Upload: MicroPython builds and POSTs HMAC-signed chunks; CPython parses, verifies and acks them.

The gateway here is a test double speaking the HTTP contract (FORMAT.md, "Upload"); it cuts
connections at chosen byte offsets of the request, or after storing but before the reply ends.
Whatever the cuts, every block ends up stored exactly once and the van reclaims its flash.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.records import ChunkError, parse_chunk
from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
KEY = bytes(range(100, 132))
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
up = Uploader(log, 'van-0001', bytes(range(100, 132)))
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


class Gateway:
    """Stores blocks by seq, acks the highest contiguous one; follows a plan of cuts per connection."""

    def __init__(self, plan: list[tuple[str, int]]) -> None:
        self.plan = list(plan)
        self.blocks: dict[int, bytes] = {}
        self.duplicates = 0
        self.rejected: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def acked(self) -> int:
        seq = -1
        while seq + 1 in self.blocks:
            seq += 1
        return seq

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        action, at = self.plan.pop(0) if self.plan else ("ok", 0)
        data = b""
        while b"\r\n\r\n" not in data:
            if action == "cut_request" and len(data) >= at:
                return
            more = conn.recv(1 if action == "cut_request" else 4096)
            if not more:
                return
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
        )
        assert head.startswith(b"POST /v1/chunks HTTP/1.1\r\n")
        assert b"content-type: application/vnd.facteur.chunk" in head.lower()
        while len(body) < length:
            if action == "cut_request" and len(head) + 4 + len(body) >= at:
                return
            more = conn.recv(1 if action == "cut_request" else 65536)
            if not more:
                return
            body += more
        try:
            chunk = parse_chunk(body)
        except ChunkError as exc:
            self.rejected.append(exc.reason)
            self.reply(conn, 422, {"error": exc.reason, "detail": exc.detail}, len(body))
            return
        if not chunk.verify(KEY):
            self.rejected.append("bad_mac")
            self.reply(conn, 401, {"error": "bad_mac", "detail": "mac"}, 10_000)
            return
        for b in chunk.blocks:
            if b.seq in self.blocks:
                self.duplicates += 1
                assert self.blocks[b.seq] == b.raw
            self.blocks[b.seq] = b.raw
        cut = at if action == "cut_reply" else 10_000
        self.reply(conn, 200, {"device_id": chunk.device_id, "acked_seq": self.acked()}, cut)

    @staticmethod
    def reply(conn: socket.socket, status: int, doc: dict[str, object], cut: int) -> None:
        body = json.dumps(doc).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        msg = head.encode() + body
        conn.sendall(msg[:cut])

    def close(self) -> None:
        self.sock.close()


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


CUTS = [0, 1, 20, 60, 150, 151, 152, 153, 300, 1000, 2000, 3000, 3500]


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
