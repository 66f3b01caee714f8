"""Store verified chunks: trim each to the seqs not yet recorded, write them, record the ranges.

Everything for one request happens in one transaction, so the acknowledgement sent after commit
covers exactly what is durable. Per-device advisory locks (taken in device-id order, so two
requests never deadlock) serialise concurrent arrivals of the same device's ranges; the ranges
recorded in ``chunk_ranges`` never overlap, which is what makes replays no-ops without any
per-row unique index.

    async with pool.connection() as conn:
        outcomes = await store_chunks(conn, "gw-01", [chunk])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor

from ingest.chunks.ranges import count, missing_runs
from ingest.core import metrics
from ingest.records.envelope import Blocks, Chunk

#: Writes the decoded readings of newly arrived blocks (per van), inside the storing transaction.
ReadingsWriter = Callable[[AsyncCursor[Any], dict[str, Blocks], datetime], Awaitable[metrics.ReadingCounts]]

log = logging.getLogger(__name__)

_RAW_COPY = "COPY raw_runs (received_at, device_id, first_seq, last_seq, blocks) FROM STDIN (FORMAT BINARY)"
_RAW_TYPES = ["timestamptz", "text", "int8", "int8", "bytea"]
_RANGES_COPY = (
    "COPY chunk_ranges (device_id, first_seq, last_seq, gateway_id, received_at) FROM STDIN (FORMAT BINARY)"
)
_RANGES_TYPES = ["text", "int8", "int8", "text", "timestamptz"]


@dataclass(frozen=True)
class StoreOutcome:
    device_id: str
    first_seq: int
    last_seq: int
    #: Blocks of this chunk stored now.
    accepted: int
    #: Blocks of this chunk that had already arrived (skipped).
    duplicate: int


async def store_chunks(
    conn: AsyncConnection[Any],
    gateway_id: str | None,
    chunks: Sequence[Chunk],
    write_readings: ReadingsWriter | None = None,
) -> list[StoreOutcome]:
    """Store ``chunks`` (already parsed and MAC-verified) in one transaction; commit on return."""
    received_at = datetime.now(UTC)
    outcomes: list[StoreOutcome] = []
    devices = sorted({c.device_id for c in chunks})
    async with conn.transaction(), conn.cursor() as cur:
        # Locks in device-id order (unnest keeps the order of the sorted array), so two requests
        # with overlapping sets of vans cannot deadlock.
        await cur.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(d, 7001)) FROM unnest(%s::text[]) d", (devices,)
        )
        lows = {d: min(c.first_seq for c in chunks if c.device_id == d) for d in devices}
        highs = {d: max(c.last_seq for c in chunks if c.device_id == d) for d in devices}
        await cur.execute(
            "SELECT c.device_id, c.first_seq, c.last_seq "
            "FROM unnest(%s::text[], %s::int8[], %s::int8[]) u(d, lo, hi) "
            "JOIN chunk_ranges c ON c.device_id = u.d AND c.last_seq >= u.lo AND c.first_seq <= u.hi",
            (devices, [lows[d] for d in devices], [highs[d] for d in devices]),
        )
        recorded: dict[str, list[tuple[int, int]]] = {d: [] for d in devices}
        for device_id, lo, hi in await cur.fetchall():
            recorded[str(device_id)].append((int(lo), int(hi)))
        fresh: list[tuple[Chunk, list[tuple[int, int]]]] = []
        for chunk in chunks:
            runs = missing_runs(chunk.first_seq, chunk.last_seq, recorded[chunk.device_id])
            recorded[chunk.device_id].extend(runs)
            fresh.append((chunk, runs))
            accepted = count(runs)
            outcomes.append(
                StoreOutcome(
                    chunk.device_id, chunk.first_seq, chunk.last_seq, accepted, len(chunk.blocks) - accepted
                )
            )
        if not any(runs for _, runs in fresh):
            return outcomes
        async with cur.copy(_RANGES_COPY) as copy:
            copy.set_types(_RANGES_TYPES)
            for chunk, runs in fresh:
                for lo, hi in runs:
                    await copy.write_row((chunk.device_id, lo, hi, gateway_id, received_at))
        new_blocks: dict[str, list[Blocks]] = {}
        async with cur.copy(_RAW_COPY) as copy:
            copy.set_types(_RAW_TYPES)
            for chunk, runs in fresh:
                for lo, hi in runs:
                    run = chunk.blocks[lo - chunk.first_seq : hi - chunk.first_seq + 1]
                    await copy.write_row((received_at, chunk.device_id, lo, hi, run.raw))
                    new_blocks.setdefault(chunk.device_id, []).append(run)
        if write_readings is not None:
            per_van = {device_id: Blocks.concat(device_runs) for device_id, device_runs in new_blocks.items()}
            await _write_readings_or_set_aside(cur, write_readings, per_van, received_at)
    return outcomes


async def _write_readings_or_set_aside(
    cur: AsyncCursor[Any], write: ReadingsWriter, runs: dict[str, Blocks], received_at: datetime
) -> None:
    """Run the decode stage for every van of the request in one savepoint. If it fails (a bug
    meeting odd data), each van is tried again alone; a van that fails alone has its blocks stay
    archived and their range recorded, the failure quarantined and counted, and the other vans go
    on: one bad chunk must not block a gateway's queue."""
    try:
        async with cur.connection.transaction():
            counts = await write(cur, runs, received_at)
    except psycopg.OperationalError:
        raise
    except Exception as exc:
        if len(runs) == 1:
            device_id, blocks = next(iter(runs.items()))
            await _set_aside(cur, device_id, blocks, received_at, exc)
            return
    else:
        metrics.count_readings(counts)  # outside the try: only the write's failure is set aside
        return
    for device_id, blocks in runs.items():
        try:
            async with cur.connection.transaction():
                counts = await write(cur, {device_id: blocks}, received_at)
        except psycopg.OperationalError:
            raise
        except Exception as exc:
            await _set_aside(cur, device_id, blocks, received_at, exc)
        else:
            metrics.count_readings(counts)


async def _set_aside(
    cur: AsyncCursor[Any], device_id: str, blocks: Blocks, received_at: datetime, exc: Exception
) -> None:
    first_seq, last_seq = int(blocks.seq[0]), int(blocks.seq[-1])
    log.error("decoding %s seq %d..%d failed; blocks kept raw", device_id, first_seq, last_seq, exc_info=exc)
    metrics.PIPELINE_ERRORS.labels(type(exc).__name__).inc()
    detail = json.dumps({"first_seq": first_seq, "last_seq": last_seq, "error": str(exc)[:500]})
    await cur.execute(
        "INSERT INTO quarantine (received_at, device_id, kind, reason, seq, boot_id, utc, reading) "
        "VALUES (%s, %s, 'pipeline', %s, %s, %s, NULL, %s)",
        (received_at, device_id, type(exc).__name__, first_seq, int(blocks.boot_id[0]), detail),
    )
