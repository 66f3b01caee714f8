"""Ingest down, or answering 503, for a simulated day: the gateway's backlog grows, then drains,
and every reading arrives once.

A day of a depot: six vans each upload eight hour-long chunks (readings dated across the day)
while ingest is unreachable (no process on its port), or up but without its database (every chunk
request answered 503 with ``Retry-After``). The gateway keeps accepting uploads from its key cache
(synced before the outage) and spools them; its ``/status`` and ``/metrics`` show the backlog and
the failures by reason. Then ingest comes back on the same address and the backlog drains.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.testing import GatewayProcess
from hil_tests.faults_server.support import KILLS, Van, metric, readings_stored, scrape, seqs_stored
from ingest.app import create_app
from ingest.chunks.synthetic import DEFAULT_START_UTC, synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import IngestService, LiveServer, free_port, ingest_settings

pytestmark = pytest.mark.timeout(300)

VANS = 6
HOURS = 8
BLOCKS_PER_HOUR = 12  # 2 minutes of driving per "hour": the chunk count and dating are what matter here


def day_of_uploads(ingest: IngestService, depot: str) -> list[Van]:
    """Each van's chunks for a day: one per hour from 06:00, each its own boot, dated that hour."""
    vans = []
    for _ in range(VANS):
        device, key = ingest.add_device(depot)
        chunks = []
        for hour in range(HOURS):
            blocks = synthetic_blocks(
                hour * BLOCKS_PER_HOUR,
                BLOCKS_PER_HOUR,
                boot_id=hour + 1,
                start_utc=DEFAULT_START_UTC + (6 + hour) * 3600,
            )
            chunks.append(build_chunk(device, key, blocks))
        vans.append(Van(device, chunks))
    return vans


def wait_for(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def outage(ingest: IngestService, tmp_path: Path, *, kind: str) -> None:
    depot = f"depot-outage-{kind}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _, token = ingest.add_gateway(depot)
    vans = day_of_uploads(ingest, depot)
    total_chunks = VANS * HOURS
    good = ingest_settings(ingest.database_url, retry_after_seconds=1)
    gateway = GatewayProcess(tmp_path / "spool", url, token)
    # Ingest is up when the gateway starts: the gateway syncs its depot's keys, then ingest goes away.
    with LiveServer(create_app(good), port=port):
        gateway.start()
        wait_for(lambda: gateway.status()["forwarder"]["keys_synced_at"] is not None)  # type: ignore[index]
    KILLS[f"ingest {kind} for a simulated day"] += 1
    before = scrape(ingest.url)
    try:
        if kind == "down":
            for van in vans:
                van.upload_all(gateway.url)
            wait_for(lambda: gateway.status()["forwarder"]["consecutive_failures"] >= 3)  # type: ignore[index]
            status, gw_metrics = gateway.status(), scrape(gateway.url)
            assert str(status["forwarder"]["last_error"]).startswith("unreachable")  # type: ignore[index]
            assert metric(gw_metrics, "facteur_gateway_forward_failures_total", reason="unreachable") >= 3
            refused = 0
        else:
            # Up, but its database is not: every chunk request is answered 503 + Retry-After at once.
            broken = ingest_settings(
                f"postgresql://nobody:x@127.0.0.1:{free_port()}/none",
                apply_migrations=False,
                retry_after_seconds=1,
                write_wait_seconds=0.2,
            )
            with LiveServer(create_app(broken), port=port):
                started = time.monotonic()
                for van in vans:
                    van.upload_all(gateway.url)
                wait_for(lambda: gateway.status()["forwarder"]["consecutive_failures"] >= 3)  # type: ignore[index]
                status, gw_metrics = gateway.status(), scrape(gateway.url)
                elapsed = time.monotonic() - started
                assert str(status["forwarder"]["last_error"]).startswith("http_503")  # type: ignore[index]
            refused = metric(gw_metrics, "facteur_gateway_forward_failures_total", reason="http_503")
            assert refused >= 3
            # Retry-After: 1 was honoured: about one attempt a second, not one per backoff step (0.1 s).
            assert refused <= elapsed + 2
            after_503 = scrape(ingest.url)
            name = "facteur_ingest_chunk_requests_total"
            assert metric(after_503, name, status="503") - metric(before, name, status="503") == refused
        # The backlog grew: every chunk of the day is spooled, none forwarded, nothing in the database.
        assert status["backlog_chunks"] == total_chunks
        assert metric(gw_metrics, "facteur_gateway_uploads_total", outcome="stored") == total_chunks
        assert all(seqs_stored(ingest.database_url, v.device_id) == (0, 0) for v in vans)
        # Ingest is back: the backlog drains.
        with LiveServer(create_app(good), port=port):
            KILLS[f"ingest restarts after {kind}"] += 1
            drained = gateway.wait_drained(timeout=120)
            gw_metrics = scrape(gateway.url)
    finally:
        gateway.stop()
    assert drained["forwarder"]["last_error"] is None  # type: ignore[index]
    assert metric(gw_metrics, "facteur_gateway_forwarded_chunks_total") == total_chunks
    after = scrape(ingest.url)
    blocks = VANS * HOURS * BLOCKS_PER_HOUR
    name = "facteur_ingest_blocks_total"
    assert metric(after, name, outcome="accepted") - metric(before, name, outcome="accepted") == blocks
    assert metric(after, name, outcome="duplicate") == metric(before, name, outcome="duplicate")
    for van in vans:
        n = HOURS * BLOCKS_PER_HOUR
        assert seqs_stored(ingest.database_url, van.device_id) == (n, n)
        stored = readings_stored(ingest.database_url, van.device_id)
        assert (stored["track"], stored["quarantine"]) == (n * 10, 0)
    print(
        f"\ningest {kind} for a simulated day: backlog {total_chunks} chunks ({refused:.0f} batches refused "
        f"503), drained; {blocks} blocks, {blocks * 10} track readings compared, lost 0, duplicates 0"
    )


def test_ingest_down_for_a_day(ingest_service: IngestService, tmp_path: Path) -> None:
    outage(ingest_service, tmp_path, kind="down")


def test_ingest_answering_503_for_a_day(ingest_service: IngestService, tmp_path: Path) -> None:
    outage(ingest_service, tmp_path, kind="503")
