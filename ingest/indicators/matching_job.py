"""The matching job: each device's new ``track`` seconds, in time order, snapped onto the road
network by :mod:`ingest.mapmatch` and written to ``matched_points`` with their roughness features.

    >>> matcher = MapMatcher(load_network(helsinki_pbf()))      # doctest: +SKIP
    >>> match_pending(conn, matcher)                              # doctest: +SKIP

``matching_state.matched_until`` is how far each device has been matched; a run takes the seconds
after it (all devices' new traces in one batched match), writes them (fixes the matcher could not
place, and seconds without a fix, as unmatched rows so replay shows the gaps), and moves the mark to
the last second it read, in one transaction per run. Readings that arrive later but are older than
the mark are not matched again (vans upload their day in order; see the report in the commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from ingest.mapmatch import MapMatcher, Trace
from ingest.roadnet import RoadNetwork, store_network


@dataclass
class MatchReport:
    devices: int = 0
    points: int = 0
    matched: int = 0


def ensure_segments(conn: psycopg.Connection[Any], net: RoadNetwork) -> int:
    """Store the network's segments unless every one of them is there already."""
    have = conn.execute(
        "SELECT count(*) FROM road_segments WHERE segment_id = ANY(%s)", (net.edge_id.tolist(),)
    )
    row = have.fetchone()
    if row is not None and int(row[0]) == net.n_edges:
        return 0
    return store_network(conn, net)


def _pending(conn: psycopg.Connection[Any], max_devices: int) -> list[tuple[str, Any]]:
    rows = conn.execute(
        """
        SELECT d.device_id, s.matched_until
        FROM (SELECT DISTINCT device_id FROM chunk_ranges) d
        LEFT JOIN matching_state s USING (device_id)
        WHERE EXISTS (SELECT 1 FROM track t WHERE t.device_id = d.device_id
                      AND t.time > coalesce(s.matched_until, 'epoch'::timestamptz))
        ORDER BY d.device_id LIMIT %s
        """,
        (max_devices,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def match_pending(conn: psycopg.Connection[Any], matcher: MapMatcher, max_devices: int = 200) -> MatchReport:
    """Match every device's track seconds newer than its mark; returns what was done."""
    net = matcher.net
    report = MatchReport()
    pending = _pending(conn, max_devices)
    if not pending:
        return report
    spans = []
    traces = []
    for device_id, since in pending:
        rows = conn.execute(
            "SELECT time, extract(epoch FROM time), fix, lat, lon, speed, norm, peak FROM track"
            " WHERE device_id = %s AND time > coalesce(%s, 'epoch'::timestamptz) ORDER BY time",
            (device_id, since),
        ).fetchall()
        fixed = [r for r in rows if r[2] and r[3] is not None and r[4] is not None]
        t = np.array([r[1] for r in fixed], dtype=np.float64)
        lon = np.array([r[4] for r in fixed], dtype=np.float64)
        lat = np.array([r[3] for r in fixed], dtype=np.float64)
        spans.append((device_id, rows, fixed))
        traces.append(Trace.from_lonlat(net, t, lon, lat))
    results = matcher.match_many(traces)
    with conn.transaction():
        for (device_id, rows, fixed), result in zip(spans, results, strict=True):
            lonlat = (
                np.column_stack(net.to_lonlat(result.xy[:, 0], result.xy[:, 1]))
                if len(fixed)
                else np.zeros((0, 2))
            )
            by_time = {r[0]: i for i, r in enumerate(fixed)}
            with (
                conn.cursor() as cur,
                cur.copy(
                    'COPY matched_points (time, device_id, segment_id, "offset", matched, confidence,'
                    " lat, lon, speed, norm, peak) FROM STDIN"
                ) as cp,
            ):
                for r in rows:
                    i = by_time.get(r[0])
                    if i is not None and bool(result.matched[i]):
                        cp.write_row(
                            (
                                r[0], device_id, int(result.segment_id[i]), float(result.offset[i]), True,
                                float(result.confidence[i]), float(lonlat[i, 1]), float(lonlat[i, 0]),
                                r[5], r[6], r[7],
                            )
                        )  # fmt: skip
                        report.matched += 1
                    else:
                        cp.write_row((r[0], device_id, None, None, False, 0.0, r[3], r[4], r[5], r[6], r[7]))
            report.points += len(rows)
            report.devices += 1
            conn.execute(
                "INSERT INTO matching_state (device_id, matched_until) VALUES (%s, %s)"
                " ON CONFLICT (device_id) DO UPDATE"
                " SET matched_until = EXCLUDED.matched_until, updated_at = now()",
                (device_id, rows[-1][0]),
            )
    return report
