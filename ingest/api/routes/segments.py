"""Indicators per road segment: GeoJSON by bounding box, time range and indicator; one segment's
detail and daily series; the priority list; the indicator catalogue (units, legends, periods).

A time range is a period kind (``day``, ``week``, ``month``) and the first days of the first and
last periods to include (``from``, ``to``; open when omitted); see :mod:`ingest.indicators.catalog`
for how several periods combine.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from ingest.api.deps import PoolDep
from ingest.api.errors import ApiError
from ingest.indicators import catalog, queries
from ingest.indicators.queries import BBox, Range

router = APIRouter(prefix="/v1", tags=["indicators"])

IndicatorName = Literal[
    "iri",
    "potholes",
    "pm25",
    "pm10",
    "co2",
    "temperature",
    "rsrp",
    "rsrq",
    "sinr",
    "unusable_share",
    "passes",
]


def time_range(
    period: Annotated[Literal["day", "week", "month"], Query(description="period kind")] = "month",
    start: Annotated[date | None, Query(alias="from", description="first period start, YYYY-MM-DD")] = None,
    end: Annotated[date | None, Query(alias="to", description="last period start, YYYY-MM-DD")] = None,
) -> Range:
    if start and end and end < start:
        raise ApiError(400, "bad_range", "'to' is before 'from'")
    return Range(period, start, end)


def bbox_param(
    bbox: Annotated[
        str, Query(description="west,south,east,north in degrees (WGS84)", examples=["24.9,60.1,25.0,60.2"])
    ],
) -> BBox:
    try:
        return BBox.parse(bbox)
    except ValueError as exc:
        raise ApiError(400, "bad_bbox", str(exc)) from None


def optional_bbox(
    bbox: Annotated[str | None, Query(description="west,south,east,north")] = None,
) -> BBox | None:
    return bbox_param(bbox) if bbox else None


RangeDep = Annotated[Range, Depends(time_range)]
BBoxDep = Annotated[BBox, Depends(bbox_param)]

# Keep the Literal and the catalogue in step.
assert set(IndicatorName.__args__) == set(catalog.INDICATORS)  # type: ignore[attr-defined]


@router.get("/indicators", summary="The indicators (units, legend stops) and the periods with data")
async def indicators(pool: PoolDep) -> dict[str, Any]:
    async with pool.connection() as conn:
        periods = await queries.period_bounds(conn)
        extent = await queries.data_extent(conn)
    return {"indicators": catalog.legend(), "periods": periods, "extent": extent}


@router.get(
    "/segments",
    summary="Segments in a bounding box as GeoJSON, with the chosen indicator as `value`",
    response_description="a GeoJSON FeatureCollection; `value` is null where there is no data",
)
async def segments(
    *,
    pool: PoolDep,
    box: BBoxDep,
    rng: RangeDep,
    indicator: IndicatorName = "iri",
    measured_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=50000)] = 20000,
) -> dict[str, Any]:
    async with pool.connection() as conn:
        rows = await queries.segments(conn, box, rng, measured_only=measured_only, limit=limit)
    return queries.feature_collection(rows, indicator)


@router.get(
    "/segments/{segment_id}", summary="One segment: indicators over the range, daily series, potholes"
)
async def segment(pool: PoolDep, segment_id: int, rng: RangeDep) -> dict[str, Any]:
    async with pool.connection() as conn:
        detail = await queries.segment_detail(conn, segment_id, rng)
    if detail is None:
        raise ApiError(404, "not_found", f"no segment {segment_id}")
    return detail


@router.get("/priority", summary="Segments to fix first, ranked, each with its reasons")
async def priority(
    pool: PoolDep,
    rng: RangeDep,
    box: Annotated[BBox | None, Depends(optional_bbox)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    async with pool.connection() as conn:
        entries = await queries.priority_list(conn, rng, box, limit)
    return {"period": rng.period, "from": rng.start, "to": rng.end, "entries": entries}
