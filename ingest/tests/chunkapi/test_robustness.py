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
from ingest.chunks.batch import CHUNK_MEDIA_TYPE
from ingest.records.envelope import Block, build_block, build_chunk
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
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()

    async def broken(
        cur: AsyncCursor[Any], device_id: str, blocks: list[Block], received_at: datetime
    ) -> None:
        await cur.execute("SELECT 1")
        raise RuntimeError("a bug meeting odd data")

    app = create_app(ingest_settings(ingest_service.database_url))
    app.state.readings_writer = broken
    with LiveServer(app) as server:
        r = httpx.post(
            f"{server.url}/v1/chunks",
            content=build_chunk(device, key, [build_block(seq=0, boot_id=1, payload=b"\x01")]),
            headers={"Authorization": f"Bearer {token}", "Content-Type": CHUNK_MEDIA_TYPE},
            timeout=30,
        )
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert 'facteur_ingest_pipeline_errors_total{error="RuntimeError"} 1.0' in metrics
    with psycopg.connect(ingest_service.database_url) as conn:
        q = conn.execute("SELECT kind, reason FROM quarantine WHERE device_id = %s", (device,)).fetchall()
        raw = conn.execute("SELECT count(*) FROM raw_runs WHERE device_id = %s", (device,)).fetchone()
    assert q == [("pipeline", "RuntimeError")]
    assert raw == (1,)
