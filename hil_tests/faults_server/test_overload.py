"""Overload, small (the figures are in ``bench/bench_fleet.py``): more than ingest will take at once
is answered 503 with ``Retry-After`` at once, nobody times out, and nothing is lost.

Ingest runs with one write slot and no queue. A request for one van holds that slot (the test holds
the van's advisory lock, so the request waits inside its transaction) while two real gateways
forward their vans' uploads and direct clients post batches: every one of them is turned away with
503 + ``Retry-After`` (counted, with the header checked on every reply the clients see), they come
back after it, and once the slot frees up everything is stored: row counts equal readings sent.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.testing import GatewayProcess
from hil_tests.faults_server.support import Van, metric, readings_stored, scrape, seqs_stored
from ingest.app import create_app
from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE, join_batch
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import WAITING_FOR_ADVISORY_LOCK, IngestService, LiveServer, ingest_settings

pytestmark = pytest.mark.timeout(300)


def test_overload_is_503_with_retry_after_no_timeouts_nothing_lost(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    settings = ingest_settings(
        ingest_service.database_url, max_concurrent_writes=1, max_waiting_writes=0, retry_after_seconds=1
    )
    depots = ["depot-overload-a", "depot-overload-b"]
    fleets: list[list[Van]] = []
    tokens = []
    for depot in depots:
        vans = []
        for _ in range(3):
            device, key = ingest_service.add_device(depot)
            blocks = synthetic_blocks(0, 40)
            vans.append(Van(device, [build_chunk(device, key, blocks[i : i + 10]) for i in range(0, 40, 10)]))
        fleets.append(vans)
        tokens.append(ingest_service.add_gateway(depot)[1])
    holder, holder_key = ingest_service.add_device(depots[0])
    direct, direct_key = ingest_service.add_device(depots[0])
    direct_batches = [
        join_batch([build_chunk(direct, direct_key, synthetic_blocks(i, 10, boot_block=i))])
        for i in range(0, 60, 10)
    ]
    before = scrape(ingest_service.url)
    replies: list[tuple[int, str | None]] = []
    timeouts = [0]

    def post_until_stored(url: str, body: bytes, media: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[0]}", "Content-Type": media}
        while True:
            try:
                r = httpx.post(f"{url}/v1/chunks", content=body, headers=headers, timeout=30)
            except httpx.TimeoutException:
                timeouts[0] += 1
                continue
            replies.append((r.status_code, r.headers.get("retry-after")))
            if r.status_code in (429, 503):
                time.sleep(float(r.headers["retry-after"]))
                continue
            assert r.status_code == 200, r.text
            return

    with LiveServer(create_app(settings)) as server, psycopg.connect(ingest_service.database_url) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtextextended(%s, 7001))", (holder,))
        held = threading.Thread(
            target=post_until_stored,
            args=(server.url, build_chunk(holder, holder_key, synthetic_blocks(0, 10)), CHUNK_MEDIA_TYPE),
        )
        held.start()
        deadline = time.monotonic() + 20
        while lock.execute(WAITING_FOR_ADVISORY_LOCK).fetchone() != (1,):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # The slot is taken: gateways forward and clients post into a full service.
        for i, token in enumerate(tokens):
            g = GatewayProcess(tmp_path / f"gw{i}", server.url, token)
            gateways.append(g.start())
        with ThreadPoolExecutor(len(direct_batches) + len(fleets)) as pool:
            posted = [pool.submit(post_until_stored, server.url, b, BATCH_MEDIA_TYPE) for b in direct_batches]
            uploads = [
                pool.submit(lambda i=i: [v.upload_all(gateways[i].url) for v in fleets[i]]) for i in range(2)
            ]
            for f in uploads:
                f.result()
            deadline = time.monotonic() + 30
            while sum(1 for s, _ in replies if s == 503) < len(direct_batches) or any(
                g.status()["forwarder"]["consecutive_failures"] == 0
                for g in gateways  # type: ignore[index]
            ):
                assert time.monotonic() < deadline, (replies, [g.status() for g in gateways])
                time.sleep(0.05)
            lock.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 7001))", (holder,))
            for f in posted:
                f.result()
        held.join(timeout=60)
        for g in gateways:
            g.wait_drained(timeout=60)
        gw_refused = [
            metric(scrape(g.url), "facteur_gateway_forward_failures_total", reason="http_503")
            for g in gateways
        ]
        after = scrape(server.url)

    refused = [(s, ra) for s, ra in replies if s in (429, 503)]
    assert refused and all(ra == "1" for _, ra in refused), replies  # every refusal says when to come back
    assert timeouts[0] == 0
    assert all(n >= 1 for n in gw_refused), gw_refused  # both gateways were turned away, and waited
    name = "facteur_ingest_chunk_requests_total"
    ingest_503 = metric(after, name, status="503") - metric(before, name, status="503")
    assert ingest_503 == len(refused) + sum(gw_refused)
    assert metric(after, name, status="500") == metric(before, name, status="500")
    # Nothing lost, nothing twice.
    for v in [v for vans in fleets for v in vans]:
        assert seqs_stored(ingest_service.database_url, v.device_id) == (40, 40)
        assert readings_stored(ingest_service.database_url, v.device_id)["track"] == 400
    assert seqs_stored(ingest_service.database_url, direct) == (60, 60)
    assert readings_stored(ingest_service.database_url, holder)["track"] == 100
    print(
        f"\noverload: ingest answered {ingest_503:.0f} requests 503 + Retry-After ({len(refused)} to direct "
        f"clients, {sum(gw_refused):.0f} to 2 gateways), 0 timeouts; {6 * 40 + 70} blocks, "
        "lost 0, duplicates 0"
    )
