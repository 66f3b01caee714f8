"""Exports of the segment indicators: CSV (one row per segment, with a point at its middle) and
GeoJSON, as downloads, with the same bounding box and time range as ``/v1/segments``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from ingest.api.deps import PoolDep
from ingest.api.routes.segments import BBoxDep, IndicatorName, RangeDep
from ingest.indicators import catalog, queries

router = APIRouter(prefix="/v1/export", tags=["exports"])

CSV_COLUMNS = ("segment_id", "name", "road_class", "length_m", *catalog.PROPERTY_NAMES[1:], "lon", "lat")


def _filename(rng: queries.Range, ext: str) -> str:
    span = "-".join(str(d) for d in (rng.start, rng.end) if d) or "all"
    return f"facteur-segments-{rng.period}-{span}.{ext}"


@router.get(
    "/segments.csv",
    summary="Segment indicators as CSV (measured segments only)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def segments_csv(pool: PoolDep, box: BBoxDep, rng: RangeDep) -> Response:
    async with pool.connection() as conn:
        rows = await queries.segments(conn, box, rng, measured_only=True, limit=50000)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        coords = row["geometry"]["coordinates"]
        mid = coords[len(coords) // 2]  # a vertex at the middle of the polyline
        values: dict[str, Any] = {**row, "lon": round(mid[0], 6), "lat": round(mid[1], 6)}
        writer.writerow(["" if values.get(c) is None else values[c] for c in CSV_COLUMNS])
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(rng, "csv")}"'},
    )


@router.get(
    "/segments.geojson",
    summary="Segment indicators as a GeoJSON download (measured segments only)",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def segments_geojson(
    pool: PoolDep, box: BBoxDep, rng: RangeDep, indicator: IndicatorName = "iri"
) -> Response:
    async with pool.connection() as conn:
        rows = await queries.segments(conn, box, rng, measured_only=True, limit=50000)
    body = json.dumps(queries.feature_collection(rows, indicator), separators=(",", ":"))
    return Response(
        body,
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="{_filename(rng, "geojson")}"'},
    )
