"""The private database really is TimescaleDB + PostGIS: hypertable, time_bucket, spatial query."""

from __future__ import annotations

import psycopg


def test_hypertable_time_bucket_and_postgis_query(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TABLE probe (time timestamptz NOT NULL, device int NOT NULL, "
            "geom geometry(Point, 4326) NOT NULL, value double precision NOT NULL)"
        )
        conn.execute("SELECT create_hypertable('probe', by_range('time', INTERVAL '1 hour'))")
        # Two devices, 3 hours at one reading a minute; device 2 is ~1.1 km east of device 1.
        conn.execute(
            """
            INSERT INTO probe
            SELECT '2026-01-01T00:00Z'::timestamptz + m * INTERVAL '1 minute', d,
                   ST_SetSRID(ST_MakePoint(2.35 + (d - 1) * 0.015, 48.85), 4326), m
            FROM generate_series(0, 179) m, generate_series(1, 2) d
            """
        )
        chunks = conn.execute("SELECT count(*) FROM show_chunks('probe')").fetchone()
        assert chunks == (3,)
        near = conn.execute(
            """
            SELECT time_bucket(INTERVAL '1 hour', time) AS hour, count(*), avg(value)
            FROM probe
            WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326)::geography, 500)
            GROUP BY hour ORDER BY hour
            """
        ).fetchall()
        assert [(row[1], row[2]) for row in near] == [(60, 29.5), (60, 89.5), (60, 149.5)]
        assert all(row[0].minute == 0 for row in near)
