"""Per-van trace replay: the devices with a matched track on a day, and one device's day as
time-ordered points (raw fix and matched position, segment, speed, roughness) for a slider."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from ingest.api.deps import PoolDep
from ingest.api.errors import ApiError

router = APIRouter(prefix="/v1/replay", tags=["replay"])

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
    coords = [[r["lon"], r["lat"]] for r in rows if r["matched"] and r["lon"] is not None]
    return {
        "device_id": device_id,
        "day": day.isoformat(),
        "n": len(rows),
        "points": points,
        "line": {"type": "LineString", "coordinates": coords},
    }
