"""The whole pipeline on the real service: simulated rounds on the Helsinki network posted as
signed chunks to ``/v1/chunks``, decoded, map-matched and turned into indicators by the
background worker, then read back through the query API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from ingest.app import create_app
from ingest.core.config import Settings
from ingest.indicators.demo_fleet import send_fleet
from ingest.roadnet import helsinki_pbf, load_network
from ingest.testing import LiveServer, scratch_database

TOKEN = "pipeline-admin-token"


@pytest.fixture
def fresh_url() -> Iterator[str]:
    with scratch_database("facteur_test_pipe") as url:
        yield url


def test_rounds_through_chunk_api_matching_and_indicators(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTEUR_ROAD_NETWORK", "helsinki")
    monkeypatch.setenv("FACTEUR_INDICATORS_INTERVAL", "0.5")
    with LiveServer(create_app(Settings(database_url=fresh_url, admin_token=TOKEN))) as server:
        sent = send_fleet(server.url, TOKEN, net=load_network(helsinki_pbf()), vans=2, days=2, stops=6)
        deadline = time.monotonic() + 90
        while True:
            with psycopg.connect(fresh_url) as conn:
                track, done = conn.execute(
                    "SELECT (SELECT count(*) FROM track),"
                    " (SELECT count(*) FROM indicator_state s JOIN matching_state m USING (device_id)"
                    "  WHERE s.passes_until >= m.matched_until)"
                ).fetchone() or (0, 0)
                matched = conn.execute("SELECT count(*) FROM matched_points").fetchone()
            if matched and matched[0] == track == sent["seconds"] and done == 2:
                break
            assert time.monotonic() < deadline, "the worker did not catch up"
            time.sleep(0.5)
        with psycopg.connect(fresh_url) as conn:
            on_route = conn.execute(
                "SELECT avg((segment_id = ANY(%s))::int) FROM matched_points WHERE matched",
                (sent["truth_segments"],),
            ).fetchone()
            measured = conn.execute(
                "SELECT count(*), count(iri) FROM segment_indicators WHERE period = 'month'"
            ).fetchone()
        assert on_route is not None and float(on_route[0]) > 0.9  # matched onto the streets really driven
        assert measured is not None and measured[0] > 100 and measured[1] > 0.5 * measured[0]
        fc = httpx.get(
            f"{server.url}/v1/segments",
            params={"bbox": "24.90,60.14,24.98,60.20", "measured_only": "true"},
            timeout=30,
        ).json()
        assert len(fc["features"]) == measured[0]
        devices = httpx.get(f"{server.url}/v1/fleet/devices", timeout=30).json()["devices"]
        assert {d["device_id"] for d in devices} == {"demo-01-1", "demo-02-1"}
        assert all(d["last_sync"] and d["backlog_s"] == 0 for d in devices)
