"""The database restarted (cleanly, and crashed with ``pg_ctl stop -m immediate``) while ingest
writes: requests in flight fail and are answered 503, the gateway retries, and every reading is
stored once.

This needs a database server the test may stop: a private throwaway PostgreSQL + TimescaleDB
cluster (``ingest.localdb.LocalDatabase`` in a temporary folder, on a free port), never the shared
cluster on 54329 that other test runs use. Skipped when PostgreSQL/TimescaleDB are not installed or
when the tests run against ``FACTEUR_DATABASE_URL``.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import GatewayProcess
from hil_tests.faults_server.support import KILLS, Van, metric, readings_stored, scrape, seqs_stored
from ingest import localdb
from ingest.app import create_app
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import IngestService, LiveServer, free_port, ingest_settings

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def throwaway_cluster() -> Iterator[localdb.LocalDatabase]:
    if os.environ.get("FACTEUR_DATABASE_URL"):
        pytest.skip("tests run against FACTEUR_DATABASE_URL: no local cluster to restart")
    bindir = Path(f"/usr/lib/postgresql/{localdb.PG_MAJOR}/bin")
    if not (bindir / "initdb").exists():
        pytest.skip(f"PostgreSQL {localdb.PG_MAJOR} is not installed")
    root = Path(tempfile.mkdtemp(prefix="facteur-db-restart-"))
    root.chmod(0o755)  # the server may run as the postgres user
    db = localdb.LocalDatabase(root / "db", free_port(), bindir)
    try:
        db.start()
        yield db
    finally:
        db.stop()
        shutil.rmtree(root, ignore_errors=True)


def crash(db: localdb.LocalDatabase) -> None:
    """``pg_ctl stop -m immediate``: no checkpoint, clients cut (recovery replays the WAL at start)."""
    db._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(db.datadir))


def restarts_while_ingesting(db: localdb.LocalDatabase, tmp_path: Path, restarts: int, seed: int) -> None:
    rng = random.Random(seed)
    settings = ingest_settings(db.url(), retry_after_seconds=1, write_wait_seconds=0.5)
    with LiveServer(create_app(settings)) as server:
        ingest = IngestService(server.url, db.url())
        depot = f"depot-dbrestart-{seed}"
        keys = [ingest.add_device(depot) for _ in range(4)]
        _, token = ingest.add_gateway(depot)
        per_van = 30 * (restarts + 1)
        fleet = [
            Van(d, [build_chunk(d, k, synthetic_blocks(i, 5, boot_block=i)) for i in range(0, per_van, 5)])
            for d, k in keys
        ]
        gateway = GatewayProcess(tmp_path / "spool", server.url, token, FACTEUR_GATEWAY_BATCH_MAX_CHUNKS="3")
        gateway.start()
        before = scrape(server.url)
        try:
            uploading = threading.Thread(
                target=lambda: [v.upload_all(gateway.url, attempts=500) for v in fleet]
            )
            uploading.start()
            for n in range(restarts):
                time.sleep(rng.uniform(0.3, 1.5))
                if n % 2:
                    crash(db)
                    KILLS["database crashed (pg_ctl stop -m immediate) during ingest"] += 1
                else:
                    db.stop()
                    KILLS["database stopped (pg_ctl stop -m fast) during ingest"] += 1
                time.sleep(rng.uniform(0.2, 1.0))  # down a while: the gateway's batches get 503
                db.start()
                KILLS["database restarts"] += 1
            uploading.join()
            status = gateway.wait_drained(timeout=180)
            gw_metrics = scrape(gateway.url)
        finally:
            gateway.stop()
        after = scrape(server.url)
    assert status["backlog_chunks"] == 0
    for v in fleet:
        assert seqs_stored(db.url(), v.device_id) == (per_van, per_van), v.device_id
        stored = readings_stored(db.url(), v.device_id)
        assert (stored["track"], stored["quarantine"]) == (per_van * 10, 0)
    # The counters say what happened: batches refused 503 while the database was away (at ingest,
    # and as forward failures at the gateway), and every block accepted exactly once.
    refused = metric(gw_metrics, "facteur_gateway_forward_failures_total", reason="http_503")
    name = "facteur_ingest_chunk_requests_total"
    assert metric(after, name, status="503") - metric(before, name, status="503") == refused
    assert refused >= 1
    name = "facteur_ingest_blocks_total"
    assert metric(after, name, outcome="accepted") - metric(before, name, outcome="accepted") == 4 * per_van
    print(
        f"\ndatabase restarted {restarts}x during ingest: {refused:.0f} batches answered 503 and resent; "
        f"{4 * per_van} blocks, {4 * per_van * 10} track readings compared, lost 0, duplicates 0"
    )


def test_database_restarted_during_ingest(throwaway_cluster: localdb.LocalDatabase, tmp_path: Path) -> None:
    restarts_while_ingesting(throwaway_cluster, tmp_path, restarts=2, seed=1)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_database_restart_sweep(throwaway_cluster: localdb.LocalDatabase, tmp_path: Path) -> None:
    restarts_while_ingesting(throwaway_cluster, tmp_path, restarts=12, seed=2)
