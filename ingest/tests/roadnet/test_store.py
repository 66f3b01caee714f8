"""Storing the network in PostGIS: every directed edge once, queryable by bounding box."""

from __future__ import annotations

import psycopg
import pytest

from ingest.roadnet import load_network, monaco_pbf, store_network
from ingest.schema import migrate


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    migrate.apply(database_url)
    return database_url


def test_store_writes_every_edge_with_geometry_and_is_idempotent(migrated: str) -> None:
    net = load_network(monaco_pbf())
    with psycopg.connect(migrated) as conn:
        assert store_network(conn, net) == net.n_edges
        store_network(conn, net)
        conn.commit()
        count, lengths, bad = conn.execute(
            "SELECT count(*), sum(length_m), "
            "count(*) FILTER (WHERE length_m > 0 AND NOT ST_IsValid(geom)) FROM road_segments"
        ).fetchone() or (0, 0, 0)
        assert count == net.n_edges
        assert bad == 0
        assert lengths == pytest.approx(net.edge_length.sum(), rel=1e-4)
        # The geodesic length PostGIS computes agrees with the local projection's.
        worst = conn.execute(
            "SELECT max(abs(ST_Length(geom::geography) - length_m)) FROM road_segments"
        ).fetchone()
        assert worst is not None
        assert worst[0] < 0.5 + 0.002 * net.edge_length.max()
        e = int(net.edge_length.argmax())
        lon, lat = net.node_lonlat[net.edge_from[e]]
        near = conn.execute(
            "SELECT segment_id, name FROM road_segments "
            "WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 0.0001)",
            (lon, lat),
        ).fetchall()
        assert int(net.edge_id[e]) in {row[0] for row in near}
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT 1 FROM road_segments WHERE geom && ST_MakeEnvelope(7.4, 43.7, 7.5, 43.8, 4326)"
        ).fetchall()
        assert any("road_segments_geom_idx" in row[0] for row in plan)
