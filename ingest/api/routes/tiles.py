"""Vector tiles (Mapbox Vector Tile) of the segments and their indicators, made by PostGIS
(``ST_AsMVT``), layer ``segments``: every indicator is a property (absent where there is no data),
so a map switches indicator by restyling, without fetching tiles again. ``sid`` is the segment id as
text: ids use 63 bits and JavaScript numbers hold 53."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from ingest.api.deps import PoolDep
from ingest.api.errors import ApiError
from ingest.api.routes.segments import RangeDep
from ingest.indicators.catalog import PROPERTY_NAMES, SEGMENT_SQL

router = APIRouter(prefix="/v1/tiles", tags=["tiles"])

MIN_ZOOM = 10  # below, a city's streets are sub-pixel and the tile would not be bounded
MAX_ZOOM = 22

_COLUMNS = ", ".join(f"s.{c}" for c in PROPERTY_NAMES if c not in ("segment_id", "last_measured"))
TILE_SQL = (
    f"WITH s AS ({SEGMENT_SQL}), env AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS e),"
    " t AS ("
    "  SELECT r.segment_id::text AS sid, r.name, r.road_class, "
    + _COLUMNS
    + ", extract(epoch FROM s.last_measured)::bigint AS last_measured,"
    "  ST_AsMVTGeom(ST_Transform(r.geom, 3857), env.e, 4096, 64, true) AS geom"
    "  FROM road_segments r CROSS JOIN env LEFT JOIN s USING (segment_id)"
    "  WHERE r.geom && ST_Transform(env.e, 4326)"
    " )"
    " SELECT ST_AsMVT(t, 'segments', 4096, 'geom') FROM t WHERE geom IS NOT NULL"
)


@router.get(
    "/{z}/{x}/{y}.pbf",
    summary="A vector tile of the segments with their indicators (layer `segments`)",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
)
async def tile(
    pool: PoolDep,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    rng: RangeDep,
) -> Response:
    if x >= 2**z or y >= 2**z:
        raise ApiError(400, "bad_tile", f"tile {z}/{x}/{y} does not exist")
    if z < MIN_ZOOM:
        return Response(b"", media_type="application/vnd.mapbox-vector-tile")
    async with pool.connection() as conn:
        cur = await conn.execute(TILE_SQL, {**rng.params(), "z": z, "x": x, "y": y})
        row = await cur.fetchone()
    body = bytes(row[0]) if row and row[0] is not None else b""
    return Response(
        body, media_type="application/vnd.mapbox-vector-tile", headers={"Cache-Control": "max-age=60"}
    )
