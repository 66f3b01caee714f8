"""Kill the gateway at random moments while vans upload and it forwards: every block arrives once."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.testing import GatewayProcess
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import IngestService

pytestmark = [pytest.mark.long, pytest.mark.timeout(300)]


def test_repeated_power_cuts_lose_nothing_and_duplicate_nothing(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    rng = random.Random(5)
    depot = "depot-chaos"
    vans = [ingest_service.add_device(depot) for _ in range(3)]
    _, token = ingest_service.add_gateway(depot)
    g = GatewayProcess(tmp_path / "spool", ingest_service.url, token, FACTEUR_GATEWAY_BATCH_MAX_CHUNKS="2")
    gateways.append(g.start())
    blocks_per_van = 120
    blocks = synthetic_blocks(0, blocks_per_van)
    acked = {device: -1 for device, _ in vans}
    for _round in range(6):
        # Each van uploads from its acknowledged seq on (with some overlap, as after a lost reply).
        for device, key in vans:
            start = max(0, acked[device] + 1 - rng.randint(0, 5))
            end = min(blocks_per_van, start + rng.randint(5, 30))
            if start >= end:
                continue
            try:
                r = g.upload(build_chunk(device, key, blocks[start:end]))
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                acked[device] = r.json()["acked_seq"]
        time.sleep(rng.uniform(0, 0.3))
        g.kill()  # a power cut, maybe in the middle of a forward
        g.start()
    # The vans finish their uploads; the gateway drains.
    for device, key in vans:
        if acked[device] + 1 < blocks_per_van:
            assert g.upload(build_chunk(device, key, blocks[acked[device] + 1 :])).status_code == 200
    g.wait_drained(timeout=60)
    with psycopg.connect(ingest_service.database_url) as conn:
        for device, _ in vans:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT s), (SELECT count(*) FROM track WHERE device_id = %s) "
                "FROM raw_runs, generate_series(first_seq, last_seq) s WHERE device_id = %s",
                (device, device),
            ).fetchone()
            assert row == (blocks_per_van, blocks_per_van, blocks_per_van * 10), device
