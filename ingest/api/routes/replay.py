"""Per-van trace replay: the devices with a matched track on a day, and one device's day as
time-ordered points (raw fix and matched position, segment, speed, roughness) for a slider."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from ingest.api.deps import PoolDep
from ingest.api.errors import ApiError

router = APIRouter(prefix="/v1/replay", tags=["replay"])

JUMP_S = 30.0
JUMP_M = 60.0

DayQuery = Annotated[date, Query(description="UTC day, YYYY-MM-DD")]


def _day(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), UTC)
    return start, start + timedelta(days=1)


@router.get("", summary="Devices with a matched track on a day (and the days with any)")
async def devices(pool: PoolDep, day: DayQuery | None = None) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT (start_time AT TIME ZONE 'UTC')::date AS d FROM segment_passes"
            " ORDER BY d DESC LIMIT 366"
        )
        days = [r[0].isoformat() for r in await cur.fetchall()]
        chosen = day or (date.fromisoformat(days[0]) if days else None)
        found: list[dict[str, Any]] = []
        if chosen is not None:
            lo, hi = _day(chosen)
            cur = await conn.execute(
                "SELECT device_id, count(*), min(time), max(time) FROM matched_points"
                " WHERE time >= %s AND time < %s GROUP BY device_id ORDER BY device_id",
                (lo, hi),
            )
            found = [
                {"device_id": r[0], "points": r[1], "first": r[2].isoformat(), "last": r[3].isoformat()}
                for r in await cur.fetchall()
            ]
    return {"day": chosen.isoformat() if chosen else None, "days": days, "devices": found}


@router.get("/{device_id}", summary="One device's matched track for a day, in time order")
async def trace(
    pool: PoolDep,
    device_id: str,
    day: DayQuery,
    step: Annotated[int, Query(ge=1, le=60, description="keep one point every `step` seconds")] = 1,
) -> dict[str, Any]:
    lo, hi = _day(day)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT extract(epoch FROM time)::float8 AS t, lon, lat, segment_id, matched, confidence,"
            " speed, norm"
            " FROM matched_points WHERE device_id = %s AND time >= %s AND time < %s"
            " AND (extract(epoch FROM time)::bigint %% %s) = 0 ORDER BY time",
            (device_id, lo, hi, step),
        )
        rows = await cur.fetchall()
    if not rows:
        raise ApiError(404, "not_found", f"no matched track for {device_id} on {day}")
    cols = ("t", "lon", "lat", "segment_id", "matched", "confidence", "speed", "norm")
    points = {c: [r[c] if not isinstance(r[c], float) else round(r[c], 6) for r in rows] for c in cols}
    return {
        "device_id": device_id,
        "day": day.isoformat(),
        "n": len(rows),
        "points": points,
        "line": _pieces(
            [(r["t"], r["lon"], r["lat"]) for r in rows if r["matched"] and r["lon"] is not None]
        ),
    }


def _pieces(points: list[tuple[float, float, float]]) -> dict[str, Any]:
    """The matched points as a MultiLineString, broken where the van jumps (a gap in time or more
    than ``JUMP_M`` between consecutive points), so replay never draws straight lines over blocks."""
    lines: list[list[list[float]]] = []
    prev: tuple[float, float, float] | None = None
    for t, lon, lat in points:
        if prev is None or t - prev[0] > JUMP_S or _metres(prev[1], prev[2], lon, lat) > JUMP_M:
            lines.append([])
        lines[-1].append([lon, lat])
        prev = (t, lon, lat)
    return {"type": "MultiLineString", "coordinates": [ln for ln in lines if len(ln) > 1]}


def _metres(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    k = 111_320.0
    return math.hypot((lon1 - lon0) * k * math.cos(math.radians(lat0)), (lat1 - lat0) * k)
