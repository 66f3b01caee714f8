"""A saturated ingest answers 503 + Retry-After at once (not a timeout); the gateway waits and
retries, and everything arrives once ingest has room again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.testing import GatewayProcess
from ingest.app import create_app
from ingest.chunks.batch import CHUNK_MEDIA_TYPE
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import WAITING_FOR_ADVISORY_LOCK, IngestService, LiveServer, ingest_settings

pytestmark = pytest.mark.timeout(120)


def test_saturation_is_503_with_retry_after_and_the_gateway_honours_it(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-busy"
    slow, slow_key = ingest_service.add_device(depot)
    other, other_key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    settings = ingest_settings(
        ingest_service.database_url, max_concurrent_writes=1, max_waiting_writes=0, retry_after_seconds=1
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": CHUNK_MEDIA_TYPE}
    with LiveServer(create_app(settings)) as server, psycopg.connect(ingest_service.database_url) as blocker:
        # Hold the per-device lock the service takes: a request for `slow` sits in the one write slot.
        blocker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 7001))", (slow,))
        held: list[httpx.Response] = []
        stuck = threading.Thread(
            target=lambda: held.append(
                httpx.post(
                    f"{server.url}/v1/chunks",
                    content=build_chunk(slow, slow_key, synthetic_blocks(0, 5)),
                    headers=headers,
                    timeout=60,
                )
            )
        )
        stuck.start()
        deadline = time.monotonic() + 10
        # Until the request for `slow` waits on that lock, inside the write slot.
        while blocker.execute(WAITING_FOR_ADVISORY_LOCK).fetchone() != (1,):
            assert time.monotonic() < deadline and not held, held
            time.sleep(0.02)
        seq = 0
        body = build_chunk(other, other_key, synthetic_blocks(seq, 1))
        started = time.monotonic()
        r = httpx.post(f"{server.url}/v1/chunks", content=body, headers=headers, timeout=30)
        assert r.status_code == 503, r.text
        assert time.monotonic() - started < 2  # answered at once, not after a timeout
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"] == "unavailable"

        # A gateway forwarding now is told to come back later, and keeps the chunk.
        g = GatewayProcess(tmp_path / "spool", server.url, token).start()
        gateways.append(g)
        assert g.upload(body).status_code == 200
        deadline = time.monotonic() + 10
        while not str(g.status()["forwarder"]["last_error"]).startswith("http_503"):  # type: ignore[index]
            assert time.monotonic() < deadline, g.status()
            time.sleep(0.05)
        assert g.status()["backlog_chunks"] == 1

        blocker.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 7001))", (slow,))
        stuck.join(timeout=30)
        assert held[0].status_code == 200 and held[0].json()["accepted"] == 5
        g.wait_drained()
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'facteur_ingest_saturated_total{reason="queue_full"}' in metrics
    with psycopg.connect(ingest_service.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM track WHERE device_id = %s", (other,)).fetchone()
    assert row == ((seq + 1) * 10,)
