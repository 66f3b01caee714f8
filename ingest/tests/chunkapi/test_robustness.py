"""Bad bytes inside well-formed, signed chunks: counted and explained, never a 5xx, nothing lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import AsyncCursor

from ingest.app import create_app
from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE, join_batch
from ingest.chunks.readings import write_readings
from ingest.chunks.synthetic import synthetic_blocks
from ingest.core.metrics import ReadingCounts
from ingest.records.envelope import Blocks, build_block, build_chunk
from ingest.testing import IngestService, LiveServer, ingest_settings

pytestmark = pytest.mark.timeout(180)

payloads = st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=6)


def test_garbage_payloads_are_archived_and_quarantined(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": CHUNK_MEDIA_TYPE}
    next_seq = [0]

    @given(payloads)
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def post_garbage(bodies: list[bytes]) -> None:
        first = next_seq[0]
        blocks = [build_block(seq=first + i, boot_id=7, payload=p) for i, p in enumerate(bodies)]
        next_seq[0] += len(blocks)
        r = httpx.post(
            f"{ingest_service.url}/v1/chunks", content=build_chunk(device, key, blocks), headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(blocks)

    post_garbage()
    with psycopg.connect(ingest_service.database_url) as conn:
        row = conn.execute(
            "SELECT sum(last_seq - first_seq + 1) FROM raw_runs WHERE device_id = %s", (device,)
        ).fetchone()
    assert row == (next_seq[0],)


def test_a_failing_decode_stage_keeps_the_blocks_and_the_rest_of_the_batch(
    ingest_service: IngestService,
) -> None:
    """A batch of two vans whose decode stage fails on one: the vans are tried again one by one,
    the failing van's blocks stay archived with the failure quarantined and counted, the other
    van's readings are stored (once: its first, rolled-back attempt counts nothing)."""
    bad, bad_key = ingest_service.add_device()
    good, good_key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()

    async def broken_for_one_van(
        cur: AsyncCursor[Any], runs: dict[str, Blocks], received_at: datetime
    ) -> ReadingCounts:
        counts = await write_readings(cur, runs, received_at)  # writes, then fails: all must be undone
        if bad in runs:
            raise RuntimeError("a bug meeting odd data")
        return counts

    good_blocks = synthetic_blocks(0, 30)
    app = create_app(ingest_settings(ingest_service.database_url))
    app.state.readings_writer = broken_for_one_van
    with LiveServer(app) as server:
        before = httpx.get(f"{server.url}/metrics", timeout=10).text
        r = httpx.post(
            f"{server.url}/v1/chunks",
            content=join_batch(
                [
                    build_chunk(bad, bad_key, [build_block(seq=0, boot_id=1, payload=b"\x01")]),
                    build_chunk(good, good_key, good_blocks),
                ]
            ),
            headers={"Authorization": f"Bearer {token}", "Content-Type": BATCH_MEDIA_TYPE},
            timeout=30,
        )
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert r.status_code == 200 and r.json()["accepted"] == 31
    assert 'facteur_ingest_pipeline_errors_total{error="RuntimeError"} 1.0' in metrics
    with psycopg.connect(ingest_service.database_url) as conn:
        vans = (bad, good)
        quarantined = conn.execute(
            "SELECT device_id, kind, reason FROM quarantine WHERE device_id IN (%s, %s)", vans
        ).fetchall()
        per_van = "SELECT device_id, count(*) FROM {} WHERE device_id IN (%s, %s) GROUP BY 1"
        archived: dict[str, int] = dict(conn.execute(per_van.format("raw_runs"), vans))
        tracks: dict[str, int] = dict(conn.execute(per_van.format("track"), vans))
    assert quarantined == [(bad, "pipeline", "RuntimeError")]
    assert archived == {bad: 1, good: 1}
    assert tracks == {good: 300}  # 30 blocks of 10 one-second entries; nothing of the failed van
    stored = _counter(metrics, 'facteur_ingest_readings_total{kind="track"}') - _counter(
        before, 'facteur_ingest_readings_total{kind="track"}'
    )
    assert stored == 300


def _counter(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
