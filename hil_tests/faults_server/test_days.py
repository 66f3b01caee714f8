"""Duplicate and out-of-order uploads across days: every reading once, dated on its own day.

One van, three days (one boot a day, seqs continuing across days). It uploads at two gateways of
its depot: day 1 and day 3 at gateway A, day 2 at gateway B, which forwards before A does: so
ingest receives day 2 first, then day 3, then day 1 (A's forwarding held back until then), and
inside day 2 the chunk after the boot's first block (which carries the boot's time anchor) comes
before it. On day 3 the van also re-sends day 1's last chunk (its acknowledgement was lost) and
day 2's first chunk (to A, which never saw it). Ingest trims what it has, quarantines readings of
a boot whose time anchor has not arrived yet and re-dates them when it does.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.testing import GatewayProcess
from hil_tests.faults_server.support import metric, readings_stored, scrape, seqs_stored
from ingest.chunks.batch import BATCH_MEDIA_TYPE, join_batch
from ingest.chunks.synthetic import DEFAULT_START_UTC, synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import IngestService

pytestmark = pytest.mark.timeout(300)

DAYS = 3
CHUNKS_PER_DAY = 4
BLOCKS_PER_CHUNK = 12
PER_DAY = CHUNKS_PER_DAY * BLOCKS_PER_CHUNK


def day_start(day: int) -> float:
    """06:00 UTC of day 1..3, the last being yesterday (ingest quarantines readings from the future)."""
    return DEFAULT_START_UTC - (DAYS - day) * 86400 + 6 * 3600


def days_of_chunks(device: str, key: bytes) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for day in range(1, DAYS + 1):
        first = (day - 1) * PER_DAY
        blocks = synthetic_blocks(first, PER_DAY, boot_id=day, start_utc=day_start(day))
        out[day] = [
            build_chunk(device, key, blocks[i : i + BLOCKS_PER_CHUNK])
            for i in range(0, PER_DAY, BLOCKS_PER_CHUNK)
        ]
    return out


def upload(g: GatewayProcess, body: bytes) -> int:
    r = g.upload(body)
    assert r.status_code == 200, r.text
    return int(r.json()["acked_seq"])


def test_out_of_order_and_duplicate_uploads_across_days(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-days"
    device, key = ingest_service.add_device(depot)
    chunks = days_of_chunks(device, key)
    _, token_a = ingest_service.add_gateway(depot)
    _, token_b = ingest_service.add_gateway(depot)
    hour = time.localtime().tm_hour
    closed = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"  # A does not forward until told
    a = GatewayProcess(tmp_path / "a", ingest_service.url, token_a, FACTEUR_GATEWAY_FORWARD_WINDOW=closed)
    b = GatewayProcess(tmp_path / "b", ingest_service.url, token_b)
    gateways.extend([a.start(), b.start()])
    before_a, before = scrape(a.url), scrape(ingest_service.url)

    # Day 1 at A (held there).
    for body in chunks[1]:
        upload(a, body)
    # Day 2 at B: its second chunk first (the van's first upload of the day was cut before B saw
    # it), so ingest gets blocks of boot 2 before the block carrying boot 2's time anchor.
    day2 = chunks[2]
    assert upload(b, day2[1]) == 2 * BLOCKS_PER_CHUNK - 1 + PER_DAY
    b.wait_drained()
    with psycopg.connect(ingest_service.database_url) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM quarantine WHERE device_id = %s AND reason = 'no_time'", (device,)
        ).fetchone()
    for body in [day2[0], *day2[2:]]:
        upload(b, body)
    b.wait_drained()
    # Day 3 at A: the day's chunks, day 1's last chunk again (a retransmission for A), day 2's
    # first chunk (new to A: spooled and forwarded, a duplicate for ingest).
    for body in chunks[3]:
        upload(a, body)
    assert upload(a, chunks[1][-1]) == PER_DAY - 1  # A's contiguous run from 0 stops at day 1's end
    upload(a, day2[0])
    a_counts = scrape(a.url)
    # A forwards now (restarted with no window): ingest gets day 3 and day 1 after day 2.
    a.stop()
    a.start(FACTEUR_GATEWAY_FORWARD_WINDOW="")
    a.wait_drained()
    after = scrape(ingest_service.url)

    blocks = DAYS * PER_DAY
    assert seqs_stored(ingest_service.database_url, device) == (blocks, blocks)
    stored = readings_stored(ingest_service.database_url, device)
    assert (stored["track"], stored["quarantine"]) == (blocks * 10, 0)
    # Each boot's readings are dated on its own day, from its own anchor.
    with psycopg.connect(ingest_service.database_url) as conn:
        spans = conn.execute(
            "SELECT boot_id, min(time), max(time), count(*) FROM track WHERE device_id = %s GROUP BY boot_id "
            "ORDER BY boot_id",
            (device,),
        ).fetchall()
    assert [s[0] for s in spans] == [1, 2, 3]
    for boot, first, last, n in spans:
        start = dt.datetime.fromtimestamp(day_start(boot), dt.UTC)
        assert first == start and last < start + dt.timedelta(hours=1) and n == PER_DAY * 10
    # The counters: at A one retransmission and 9 chunks stored; ingest got day 2's first chunk
    # twice (12 duplicates, nothing else); the blocks that waited for their anchor were re-dated.
    name = "facteur_gateway_uploads_total"
    retransmissions = metric(a_counts, name, outcome="retransmission") - metric(
        before_a, name, outcome="retransmission"
    )
    assert retransmissions == 1
    assert (
        metric(a_counts, name, outcome="stored") - metric(before_a, name, outcome="stored")
        == 2 * CHUNKS_PER_DAY + 1
    )
    name = "facteur_ingest_blocks_total"
    assert metric(after, name, outcome="accepted") - metric(before, name, outcome="accepted") == blocks
    assert (
        metric(after, name, outcome="duplicate") - metric(before, name, outcome="duplicate")
        == BLOCKS_PER_CHUNK
    )
    redated = metric(after, "facteur_ingest_redated_blocks_total") - metric(
        before, "facteur_ingest_redated_blocks_total"
    )
    assert waiting is not None and waiting[0] > 0 and redated == BLOCKS_PER_CHUNK
    # Direct check of the batch path: a second van's days posted in one batch, newest day first.
    other, other_key = ingest_service.add_device(depot)
    later_first = [c for day in (3, 2, 1) for c in days_of_chunks(other, other_key)[day]]
    r = httpx.post(
        f"{ingest_service.url}/v1/chunks",
        content=join_batch(later_first + later_first[:2]),
        headers={"Authorization": f"Bearer {token_a}", "Content-Type": BATCH_MEDIA_TYPE},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicate"]) == (blocks, 2 * BLOCKS_PER_CHUNK)
    assert seqs_stored(ingest_service.database_url, other) == (blocks, blocks)
    assert readings_stored(ingest_service.database_url, other)["quarantine"] == 0
    print(
        f"\nout of order and duplicate across {DAYS} days: {2 * blocks} blocks, {2 * blocks * 10} track "
        f"readings compared, {BLOCKS_PER_CHUNK * 3} duplicate blocks trimmed, lost 0, duplicates 0"
    )
