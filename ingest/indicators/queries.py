"""The reads behind the query API (async, on the service's pool): segments with their combined
indicators in a bounding box and time range, one segment's detail and series, the priority list.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ingest.indicators.catalog import AIR, INDICATORS, PERIODS, SEGMENT_SQL
from ingest.indicators.priority import IRI_FAIR, PM25_GUIDELINE, SegmentSummary, rank

#: Bounding boxes larger than this (degrees²) are refused: the answer would not be bounded.
MAX_BBOX_AREA = 4.0


@dataclass(frozen=True)
class Range:
    period: str = "month"
    start: date | None = None
    end: date | None = None

    def params(self) -> dict[str, Any]:
        return {"period": self.period, "from": self.start, "to": self.end}


@dataclass(frozen=True)
class BBox:
    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        parts = [float(p) for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError("bbox is west,south,east,north in degrees")
        box = cls(*parts)
        if not (-180 <= box.west < box.east <= 180 and -90 <= box.south < box.north <= 90):
            raise ValueError("bbox must have west < east and south < north, in degrees")
        if (box.east - box.west) * (box.north - box.south) > MAX_BBOX_AREA:
            raise ValueError(f"bbox larger than {MAX_BBOX_AREA} square degrees")
        return box


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, float):
            out[k] = round(v, 4)
        elif hasattr(v, "isoformat"):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out


async def segments(
    conn: AsyncConnection[Any], box: BBox, rng: Range, *, measured_only: bool = False, limit: int = 20000
) -> list[dict[str, Any]]:
    """Segments in ``box`` with road attributes, combined indicators (None where nothing was
    measured) and ``geometry`` (GeoJSON dict)."""
    join = "JOIN" if measured_only else "LEFT JOIN"
    sql = (
        f"WITH s AS ({SEGMENT_SQL}) "
        "SELECT r.segment_id, r.name, r.road_class, r.length_m, ST_AsGeoJSON(r.geom, 6) AS geometry, s.*"
        f" FROM road_segments r {join} s USING (segment_id)"
        " WHERE r.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
        " ORDER BY r.segment_id LIMIT %(limit)s"
    )
    params = {**rng.params(), "w": box.west, "s": box.south, "e": box.east, "n": box.north, "limit": limit}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        rows = await cur.fetchall()
    out = []
    for row in rows:
        clean = _clean(row)
        clean["geometry"] = json.loads(row["geometry"])
        out.append(clean)
    return out


def feature_collection(rows: list[dict[str, Any]], indicator: str) -> dict[str, Any]:
    features = []
    for row in rows:
        props = {k: v for k, v in row.items() if k != "geometry"}
        props["value"] = row.get(indicator)
        features.append(
            {"type": "Feature", "id": row["segment_id"], "geometry": row["geometry"], "properties": props}
        )
    return {"type": "FeatureCollection", "indicator": indicator, "features": features}


async def segment_detail(conn: AsyncConnection[Any], segment_id: int, rng: Range) -> dict[str, Any] | None:
    """One segment: road attributes, combined indicators over the range, the daily series and the
    pothole clusters of the range."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"WITH s AS ({SEGMENT_SQL}) SELECT r.segment_id, r.name, r.road_class, r.length_m, r.reverse_id,"
            " ST_AsGeoJSON(r.geom, 6) AS geometry, s.* FROM road_segments r LEFT JOIN s USING (segment_id)"
            " WHERE r.segment_id = %(id)s",
            {**rng.params(), "id": segment_id},
        )
        row = await cur.fetchone()
        if row is None:
            return None
        # The series is per day over the range (whatever period the map shows), for the chart. Air
        # values per day are the median of that day's passes: not enough days to publish, but
        # what a chart of one segment needs.
        cols = ", ".join(f"i.{n}" for n in INDICATORS if n not in AIR)
        air = ", ".join(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY p.{n}) AS {n}" for n in AIR)
        await cur.execute(
            f"SELECT i.period_start, {cols}, d.*, i.days, i.iri_confidence, i.last_measured"
            " FROM segment_indicators i LEFT JOIN LATERAL ("
            f" SELECT {air} FROM segment_passes p WHERE p.segment_id = i.segment_id"
            " AND p.start_time >= i.period_start::timestamp AT TIME ZONE 'UTC'"
            " AND p.start_time < (i.period_start + 1)::timestamp AT TIME ZONE 'UTC') d ON true"
            " WHERE i.segment_id = %(id)s AND i.period = 'day'"
            " AND (%(from)s::date IS NULL OR i.period_start >= %(from)s::date)"
            " AND (%(to)s::date IS NULL OR i.period_start < %(to)s::date + CASE %(period)s"
            " WHEN 'day' THEN 1 WHEN 'week' THEN 7 ELSE 31 END)"
            " ORDER BY i.period_start",
            {**rng.params(), "id": segment_id},
        )
        series = [_clean(r) for r in await cur.fetchall()]
        await cur.execute(
            'SELECT period_start, "offset", lat, lon, events, passes, severity, confirmed, last_seen'
            " FROM pothole_clusters WHERE segment_id = %(id)s AND period = %(period)s"
            " AND (%(from)s::date IS NULL OR period_start >= %(from)s::date)"
            ' AND (%(to)s::date IS NULL OR period_start <= %(to)s::date) ORDER BY period_start, "offset"',
            {**rng.params(), "id": segment_id},
        )
        clusters = [_clean(r) for r in await cur.fetchall()]
    detail = _clean(row)
    detail["sid"] = str(segment_id)
    detail["geometry"] = json.loads(row["geometry"])
    detail["series"] = series
    detail["pothole_clusters"] = clusters
    return detail


async def priority_list(
    conn: AsyncConnection[Any], rng: Range, box: BBox | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The ranked list (see :mod:`ingest.indicators.priority`) with each entry's location."""
    need = f"(s.iri > {IRI_FAIR} OR s.potholes > 0 OR s.pm25 > {PM25_GUIDELINE})"
    where = f" WHERE {need}"
    if box:
        where += " AND r.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
    box_params = {"w": box.west, "s": box.south, "e": box.east, "n": box.north} if box else {}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"WITH s AS ({SEGMENT_SQL}) SELECT s.segment_id, r.name, s.passes, s.iri, s.iri_confidence,"
            " s.potholes, s.pm25, ST_X(ST_LineInterpolatePoint(r.geom, 0.5)) AS lon,"
            " ST_Y(ST_LineInterpolatePoint(r.geom, 0.5)) AS lat, ST_XMin(r.geom) AS west,"
            " ST_YMin(r.geom) AS south, ST_XMax(r.geom) AS east, ST_YMax(r.geom) AS north"
            f" FROM s JOIN road_segments r USING (segment_id){where}",
            {**rng.params(), **box_params},
        )
        rows = {r["segment_id"]: r for r in await cur.fetchall()}
    summaries = [
        SegmentSummary(
            segment_id=r["segment_id"],
            name=r["name"],
            passes=int(r["passes"]),
            iri=r["iri"],
            iri_confidence=r["iri_confidence"],
            potholes=int(r["potholes"] or 0),
            pm25=r["pm25"],
        )
        for r in rows.values()
    ]
    out = []
    for rank_no, entry in enumerate(rank(summaries, limit), start=1):
        r = rows[entry.segment_id]
        item = asdict(entry)
        item["sid"] = str(entry.segment_id)  # 63-bit ids do not survive JavaScript numbers
        item["rank"] = rank_no
        item.update(
            {k: _clean({k: r[k]})[k] for k in ("passes", "iri", "potholes", "pm25", "lon", "lat")},
            bbox=[r["west"], r["south"], r["east"], r["north"]],
        )
        out.append(item)
    return out


async def period_bounds(conn: AsyncConnection[Any]) -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    for period in PERIODS:
        cur = await conn.execute(
            "SELECT min(period_start), max(period_start) FROM segment_indicators WHERE period = %s", (period,)
        )
        row = await cur.fetchone()
        first, last = row if row else (None, None)
        out[period] = {
            "first": first.isoformat() if first else None,
            "last": last.isoformat() if last else None,
        }
    return out


async def data_extent(conn: AsyncConnection[Any]) -> list[float] | None:
    """[west, south, east, north] of the segments with indicators, None without any."""
    cur = await conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e"
        " FROM road_segments WHERE segment_id IN (SELECT segment_id FROM segment_indicators"
        " WHERE period = 'month')) x"
    )
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    return [round(float(v), 6) for v in row]
