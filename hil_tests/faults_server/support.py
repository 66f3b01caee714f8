"""What the server-side fault and security tests share: real chunks, row counts, counters, vans.

- :func:`firmware_chunks`: chunks encoded and signed by the firmware's own code (``firmware/records.py``,
  ``firmware/upload.py``) on the MicroPython unix port, every record kind in them.
- :func:`row_counts` / :func:`seqs_stored`: what the database holds (whole tables, or one van's seqs),
  to prove "nothing written" after a refusal and "exactly once" after a fault.
- :func:`metric`: one sample of a Prometheus text page (gateway or ingest ``/metrics``).
- :class:`Van`: a van as the firmware uploads (chunk after chunk from its acknowledged seq, resending
  after any failure), speaking the real HTTP contract to a real gateway.

    chunks = firmware_chunks(micropython, "van-0001", key, first_seq=0, blocks=24, chunk_blocks=8)
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from ingest.chunks.batch import CHUNK_MEDIA_TYPE
from ingest.chunks.synthetic import DEFAULT_START_UTC
from ingest.records.decode import EPOCH_2000
from ingest.records.envelope import parse_chunk
from ingest.testing import run_micropython

#: Kills and restarts of the services, by what was killed when (printed in the terminal summary).
KILLS: Counter[str] = Counter()

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"

#: Tables of what the vans measured and of what arrived (the registry is counted apart).
DATA_TABLES = (
    "chunk_ranges",
    "raw_runs",
    "track",
    "potholes",
    "air",
    "co2",
    "coverage",
    "device_health",
    "boot_anchors",
    "quarantine",
)
REGISTRY_TABLES = ("devices", "gateways")

# One boot of a van: every record kind the firmware writes, one block per 10 s of driving.
_ENCODE = """
import sys, json, binascii
sys.path[:0] = ['.']
from records import BlockWriter
from upload import HMACSHA256, build_chunk
w = BlockWriter(boot_id=BOOT, first_seq=FIRST)
blocks = []
t0 = 5000
for i in range(NBLOCKS):
    t = t0 + i * 10000
    if i == 0:
        w.time_sync(t, UTC0, 250)
    for s in range(10):
        w.track_second(t + s * 1000, 60170000 + i * 90 + s * 9, 24940000 + i * 40 + s * 4, 900 + s,
                       30 + s, 12, 400 + 10 * s, 9)
    if i % 3 == 1:
        w.air(t + 9000, 9, 4, 7, 11)
    if i % 4 == 2:
        w.co2(t + 8000, 612 + i, 2150, 90)
    if i % 5 == 3:
        w.coverage(t + 7000, 7, 50, 20, 40, 24405)
    if i % 7 == 4:
        w.pothole(t + 3500, 60170000 + i * 90, 24940000 + i * 40, 800, 1900, 23, 2)
    if i % 11 == 10:
        w.health(t + 9500, BOOT, 30000, 120, 0, [1, 2, 3])
    blocks.append(w.seal())
mac = HMACSHA256(KEY)
out = []
for k in range(0, NBLOCKS, PER_CHUNK):
    part = blocks[k:k + PER_CHUNK]
    first = FIRST + k
    out.append(binascii.hexlify(build_chunk(mac, DEVICE, first, first + len(part) - 1, b''.join(part))))
print(json.dumps([x.decode() for x in out]))
"""


def firmware_chunks(
    micropython: Path,
    device_id: str,
    key: bytes,
    *,
    first_seq: int = 0,
    blocks: int = 12,
    chunk_blocks: int = 4,
    boot_id: int = 1,
    start_utc: float = DEFAULT_START_UTC,
) -> list[bytes]:
    """Chunks of ``blocks`` blocks from ``first_seq``, ``chunk_blocks`` per chunk, built by the firmware."""
    code = (
        f"BOOT = {boot_id}\nFIRST = {first_seq}\nNBLOCKS = {blocks}\nPER_CHUNK = {chunk_blocks}\n"
        f"UTC0 = {int(start_utc) - EPOCH_2000}\nKEY = {key!r}\nDEVICE = {device_id!r}\n" + _ENCODE
    )
    proc = run_micropython(micropython, code, heap="256k", cwd=FIRMWARE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    chunks = [bytes.fromhex(h) for h in json.loads(proc.stdout.strip().splitlines()[-1])]
    for body in chunks:  # the CPython side reads what MicroPython wrote (else every test is moot)
        assert parse_chunk(body).verify(key)
    return chunks


def row_counts(database_url: str, tables: tuple[str, ...] = DATA_TABLES + REGISTRY_TABLES) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]


def seqs_stored(database_url: str, device_id: str) -> tuple[int, int]:
    """(blocks stored, distinct seqs among them) for one van: equal means no duplicate."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT s) FROM raw_runs, generate_series(first_seq, last_seq) s "
            "WHERE device_id = %s",
            (device_id,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def readings_stored(database_url: str, device_id: str) -> dict[str, int]:
    """Rows per readings table for one van."""
    with psycopg.connect(database_url) as conn:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t} WHERE device_id = %s", (device_id,)).fetchone()[0])  # type: ignore[index]
            for t in ("track", "air", "co2", "coverage", "potholes", "quarantine")
        }


def metric(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name{labels}`` in a Prometheus page; 0 when absent (never incremented)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def scrape(url: str) -> str:
    r = httpx.get(f"{url}/metrics", timeout=10)
    r.raise_for_status()
    return r.text


@dataclass
class Van:
    """Uploads its chunks to a gateway in order, as the firmware does: the next chunk starts after
    the gateway's ``acked_seq``; a failed or unanswered upload is sent again."""

    device_id: str
    chunks: list[bytes]
    acked: int = -1
    uploads: int = 0
    failures: int = 0
    replies: list[int] = field(default_factory=list)

    def pending(self) -> list[bytes]:
        return [c for c in self.chunks if parse_chunk(c).last_seq > self.acked]

    def upload_one(self, gateway_url: str, timeout: float = 10) -> bool:
        """Send the first chunk not yet acknowledged; True when the gateway acknowledged it."""
        todo = self.pending()
        if not todo:
            return False
        self.uploads += 1
        try:
            r = httpx.post(
                f"{gateway_url}/v1/chunks",
                content=todo[0],
                headers={"Content-Type": CHUNK_MEDIA_TYPE},
                timeout=timeout,
            )
        except httpx.HTTPError:
            self.failures += 1
            return False
        self.replies.append(r.status_code)
        if r.status_code != 200:
            self.failures += 1
            return False
        self.acked = max(self.acked, int(r.json()["acked_seq"]))
        return True

    def upload_all(self, gateway_url: str, attempts: int = 50) -> None:
        for _ in range(attempts):
            if not self.pending():
                return
            self.upload_one(gateway_url)
        raise AssertionError(f"{self.device_id}: not everything acknowledged, replies {self.replies}")
