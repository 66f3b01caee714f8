"""The ingest service's connection pool to TimescaleDB."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


async def open_pool(url: str, max_size: int, min_size: int = 1) -> AsyncConnectionPool:
    """Open a pool without waiting for the database: ``/health`` reports if it is unreachable.

    ``min_size`` connections are opened in the background at once and kept: the service's first
    burst of writes then finds them ready instead of each paying a connection set-up (TCP, SCRAM
    authentication, a cold backend) while gateways wait.
    """
    pool = AsyncConnectionPool(
        url, min_size=min(min_size, max_size), max_size=max_size, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=False)
    return pool
