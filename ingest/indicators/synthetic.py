"""A small city with known truth, written straight into the real tables: for indicator, query
and dashboard tests (and a demo when no simulated fleet is at hand).

    >>> truth = seed_city(conn, start=date(2026, 11, 2), days=5, devices=3)   # doctest: +SKIP
    >>> recompute(conn)                                                          # doctest: +SKIP

A grid of ``n × n`` intersections ``spacing_m`` apart (near Helsinki's centre), every street piece a
two-way pair of directed ``road_segments``. Each van drives every segment once a day at 8 m/s, one
matched point a second, with the ``norm`` of a known IRI (plus noise), air readings every 30 s
from a known PM2.5/PM10/CO2/temperature per segment, a coverage reading every 20 s, and pothole
events where the truth has potholes (and a few one-off false jolts on good road). It writes
``matched_points`` as the matching job would, plus the readings tables, and the
``matching_state`` that tells the indicator job what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ingest.indicators.params import IndicatorParams

LAT0, LON0 = 60.1700, 24.9300
M_PER_DEG_LAT = 111_320.0
SPEED = 8.0
#: Segment ids as large as the road network's (63-bit hashes), so precision bugs show.
FIRST_ID = 2**62 + 1000


@dataclass
class CityTruth:
    segment_ids: list[int]
    iri: dict[int, float]
    pm25: dict[int, float]
    potholes: dict[int, list[float]]  # offsets, metres
    devices: list[str]
    start: date
    days: int
    names: dict[int, str] = field(default_factory=dict)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lat = LAT0 + y / M_PER_DEG_LAT
    lon = LON0 + x / (M_PER_DEG_LAT * math.cos(math.radians(LAT0)))
    return lon, lat


def _segments(n: int, spacing: float) -> list[tuple[int, int, tuple[float, float], tuple[float, float], str]]:
    """(segment_id, reverse_id, start xy, end xy, name) of both directions of every street piece."""
    out = []
    sid = FIRST_ID
    for row in range(n):
        for col in range(n - 1):
            a, b = (col * spacing, row * spacing), ((col + 1) * spacing, row * spacing)
            out.append((sid, sid + 1, a, b, f"Katu {row + 1}"))
            out.append((sid + 1, sid, b, a, f"Katu {row + 1}"))
            sid += 2
    for col in range(n):
        for row in range(n - 1):
            a, b = (col * spacing, row * spacing), (col * spacing, (row + 1) * spacing)
            out.append((sid, sid + 1, a, b, f"Tie {col + 1}"))
            out.append((sid + 1, sid, b, a, f"Tie {col + 1}"))
            sid += 2
    return out


def seed_city(
    conn: psycopg.Connection[Any],
    *,
    start: date,
    days: int = 5,
    devices: int = 3,
    n: int = 4,
    spacing_m: float = 200.0,
    iri_per_norm: float = IndicatorParams().iri_per_norm,
    seed: int = 7,
) -> CityTruth:
    rng = np.random.default_rng(seed)
    segs = _segments(n, spacing_m)
    ids = [s[0] for s in segs]
    # Truth per street piece (both directions share roughness and air).
    iri: dict[int, float] = {}
    pm25: dict[int, float] = {}
    holes: dict[int, list[float]] = {}
    for sid, rev, *_ in segs:
        if rev in iri:
            iri[sid], pm25[sid] = iri[rev], pm25[rev]
        else:
            iri[sid] = float(rng.choice([1.5, 2.5, 3.5, 5.0, 7.5, 10.0]))
            pm25[sid] = float(rng.uniform(5.0, 35.0))
        holes[sid] = [float(rng.uniform(20, spacing_m - 20))] if iri[sid] >= 7.5 else []
    names = {s[0]: s[4] for s in segs}
    conn.execute("DELETE FROM road_segments WHERE segment_id = ANY(%s)", (ids,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO road_segments (segment_id, way_id, from_node, to_node, reverse_id, name, road_class,"
            " maxspeed_kmh, length_m, geom) VALUES (%s, %s, 0, 0, %s, %s, 'residential', 30, %s,"
            " ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 4326))",
            [
                (sid, (sid - FIRST_ID) // 2, rev, name, spacing_m, *_lonlat(*a), *_lonlat(*b))
                for sid, rev, a, b, name in segs
            ],
        )
    device_ids = [f"demo-van-{i + 1:02d}" for i in range(devices)]
    points: list[tuple[Any, ...]] = []
    air_rows: list[tuple[Any, ...]] = []
    co2_rows: list[tuple[Any, ...]] = []
    cov_rows: list[tuple[Any, ...]] = []
    hole_rows: list[tuple[Any, ...]] = []
    steps = int(spacing_m / SPEED)
    for d in range(days):
        day0 = datetime.combine(start + timedelta(days=d), datetime.min.time(), UTC) + timedelta(hours=8)
        day_pm = float(rng.uniform(0.85, 1.15))
        for v, dev in enumerate(device_ids):
            t = day0 + timedelta(minutes=7 * v)
            order = rng.permutation(len(segs))
            k_sec = 0
            for j in order:
                sid, _rev, a, b, _name = segs[j]
                for s in range(steps):
                    off = (s + 0.5) * SPEED
                    f = off / spacing_m
                    lon, lat = _lonlat(a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
                    norm = iri[sid] / iri_per_norm * float(rng.lognormal(0.0, 0.15))
                    points.append((t, dev, sid, off, True, 0.95, lat, lon, SPEED, norm, 0.1))
                    if k_sec % 30 == 29:
                        pm = pm25[sid] * day_pm * float(rng.lognormal(0.0, 0.1))
                        air_rows.append((t, dev, 0, 0, 0, 30, int(pm * 0.7), round(pm), round(pm * 1.6)))
                        co2_rows.append((t, dev, 0, 0, 0, int(420 + pm * 3), 8.0 + pm / 10, 70.0))
                    if k_sec % 20 == 19:
                        rsrp = -85.0 - 10 * (sid % 5) + float(rng.normal(0, 3))
                        cov_rows.append((t, dev, 0, 0, 0, 7, 24491, rsrp, -10.0, 12.0))
                    for h in holes[sid]:
                        if abs(off - h) <= SPEED / 2 and rng.random() < 0.9:
                            hole_rows.append((t, dev, 0, 0, 0, True, lat, lon, SPEED, 2.0, 3.0, 2))
                    if not holes[sid] and iri[sid] <= 2.5 and rng.random() < 0.002:
                        hole_rows.append((t, dev, 0, 0, 0, True, lat, lon, SPEED, 1.5, 3.0, 1))
                    t += timedelta(seconds=1)
                    k_sec += 1
            conn.execute(
                "INSERT INTO matching_state (device_id, matched_until) VALUES (%s, %s)"
                " ON CONFLICT (device_id) DO UPDATE"
                " SET matched_until = greatest(matching_state.matched_until, EXCLUDED.matched_until)",
                (dev, t),
            )
    with conn.cursor() as cur:
        _copy(
            cur,
            "matched_points",
            'time, device_id, segment_id, "offset", matched, confidence, lat, lon, speed, norm, peak',
            points,
        )
        _copy(cur, "air", "time, device_id, boot_id, seq, ticks, frames, pm1, pm25, pm10", air_rows)
        _copy(cur, "co2", "time, device_id, boot_id, seq, ticks, co2, temperature, humidity", co2_rows)
        _copy(cur, "coverage", "time, device_id, boot_id, seq, ticks, rat, plmn, rsrp, rsrq, sinr", cov_rows)
        _copy(
            cur,
            "potholes",
            "time, device_id, boot_id, seq, ticks, fix, lat, lon, speed, peak, xz_ratio, severity",
            hole_rows,
        )
    return CityTruth(ids, iri, pm25, holes, device_ids, start, days, names)


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
