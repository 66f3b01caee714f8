"""``GET /health``: is the service up, is its database reachable, and with which extensions."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from ingest.api.deps import PoolDep

router = APIRouter(tags=["health"])

VERSIONS_SQL = """
SELECT current_setting('server_version'),
       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
       (SELECT extversion FROM pg_extension WHERE extname = 'postgis'),
       current_setting('timescaledb.license', true)
"""


class DatabaseHealth(BaseModel):
    connected: bool
    postgresql: str | None = None
    timescaledb: str | None = None
    timescaledb_license: str | None = None
    postgis: str | None = None
    error: str | None = None


class Health(BaseModel):
    status: str
    database: DatabaseHealth


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(pool: PoolDep) -> Health | JSONResponse:
    try:
        async with pool.connection(timeout=3) as conn:
            row = await (await conn.execute(VERSIONS_SQL)).fetchone()
    except (psycopg.Error, PoolTimeout) as exc:
        body = Health(status="unavailable", database=DatabaseHealth(connected=False, error=str(exc)))
        return JSONResponse(status_code=503, content=body.model_dump())
    assert row is not None
    pg, tsdb, postgis, licence = row
    return Health(
        status="ok",
        database=DatabaseHealth(
            connected=True, postgresql=pg, timescaledb=tsdb, timescaledb_license=licence, postgis=postgis
        ),
    )
