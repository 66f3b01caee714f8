"""Retention by dropping whole TimescaleDB chunks of the hypertables, run by the service itself.

The Apache build of TimescaleDB has no background retention policy, so the service calls
``drop_chunks`` on a timer (and a licensed build is treated the same way: one mechanism to test).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

log = logging.getLogger(__name__)


#: The hypertables of what vans sent (migrations 0002-0004); other parts keep their own rules.
RETAINED = ("track", "potholes", "air", "co2", "coverage", "device_health", "raw_runs", "quarantine")


async def drop_old_chunks(
    pool: AsyncConnectionPool, older_than: timedelta, tables: tuple[str, ...] = RETAINED
) -> int:
    """Drop the chunks of ``tables`` entirely older than ``older_than``; returns how many."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = ANY(%s)",
            (list(tables),),
        )
        found = await cur.fetchall()
        dropped = 0
        for schema, name in found:
            cur = await conn.execute(
                "SELECT count(*) FROM drop_chunks(format('%%I.%%I', %s::text, %s::text)::regclass, "
                "older_than => now() - %s::interval)",
                (schema, name, older_than),
            )
            row = await cur.fetchone()
            dropped += int(row[0]) if row else 0
    return dropped


async def retention_loop(pool: AsyncConnectionPool, older_than: timedelta, every: float = 3600.0) -> None:
    """Drop old chunks every ``every`` seconds, the first time one period after start-up (so a
    short-lived worker, or a test, never drops anything)."""
    while True:
        await asyncio.sleep(every)
        try:
            dropped = await drop_old_chunks(pool, older_than)
            if dropped:
                log.info("retention: dropped %d chunks older than %s", dropped, older_than)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("retention: %s", exc)
