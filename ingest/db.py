"""The ingest service's connection pool to TimescaleDB."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


async def open_pool(url: str, max_size: int) -> AsyncConnectionPool:
    """Open a pool without waiting for the database: ``/health`` reports if it is unreachable."""
    pool = AsyncConnectionPool(url, min_size=1, max_size=max_size, open=False, kwargs={"autocommit": True})
    await pool.open(wait=False)
    return pool
