"""Decode newly stored blocks into readings, date them, filter them, and COPY them into hypertables.

Runs inside the transaction that stores the blocks (see :func:`ingest.chunks.store.store_chunks`),
so readings exist exactly when their range is recorded. Readings the decoder could not date get UTC
from their boot's time anchor (``boot_anchors``: the first GNSS time record of the boot, possibly
from an earlier chunk); rows refused by a filter and records the decoder could not read go to
``quarantine`` with a reason, and are counted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from psycopg import AsyncCursor

from ingest.chunks import rollup
from ingest.chunks.boots import store_boots
from ingest.chunks.pgcopy import Column, copy_body
from ingest.core import metrics
from ingest.filters.pipeline import apply_filters
from ingest.filters.rules import Table
from ingest.records.decode import Readings, decode_blocks
from ingest.records.envelope import Blocks, parse_blocks

_BASE = ["time", "device_id", "boot_id", "seq", "ticks"]

#: kind -> (table, [(column, field in the decoded array, PostgreSQL type)]) after the base columns.
LAYOUT: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "track": (
        "track",
        [
            ("fix", "fix", "bool"),
            ("lat", "lat", "float8"),
            ("lon", "lon", "float8"),
            ("speed", "speed", "float4"),
            ("hdop", "hdop", "float4"),
            ("rms", "rms", "float4"),
            ("norm", "norm", "float4"),
            ("peak", "peak", "float4"),
        ],
    ),
    "potholes": (
        "potholes",
        [
            ("fix", "fix", "bool"),
            ("lat", "lat", "float8"),
            ("lon", "lon", "float8"),
            ("speed", "speed", "float4"),
            ("peak", "peak", "float4"),
            ("xz_ratio", "xz_ratio", "float4"),
            ("severity", "severity", "int2"),
        ],
    ),
    "air": (
        "air",
        [
            ("frames", "frames", "int2"),
            ("pm1", "pm1", "int4"),
            ("pm25", "pm25", "int4"),
            ("pm10", "pm10", "int4"),
        ],
    ),
    "co2": (
        "co2",
        [
            ("co2", "co2", "int4"),
            ("temperature", "temperature", "float4"),
            ("humidity", "humidity", "float4"),
        ],
    ),
    "coverage": (
        "coverage",
        [
            ("rat", "rat", "int2"),
            ("plmn", "plmn", "int8"),
            ("rsrp", "rsrp", "float4"),
            ("rsrq", "rsrq", "float4"),
            ("sinr", "sinr", "float4"),
        ],
    ),
}


def tables_of(r: Readings) -> dict[str, Table]:
    return {
        "track": r.track,
        "potholes": r.potholes,
        "air": r.air,
        "co2": r.co2,
        "coverage": r.coverage,
        "health": r.health,
    }


async def _anchor(cur: AsyncCursor[Any], device_id: str, r: Readings) -> set[int]:
    """Record this chunk's first time record per boot; date undated rows from stored anchors.

    Returns the boots that got their anchor only now.
    """
    new: set[int] = set()
    if len(r.time):
        first: dict[int, tuple[int, float]] = {}
        for row in r.time[np.argsort(r.time["ticks"], kind="stable")]:
            first.setdefault(int(row["boot_id"]), (int(row["ticks"]), float(row["utc"])))
        await cur.execute(
            "INSERT INTO boot_anchors (device_id, boot_id, ticks, utc) "
            "SELECT %s, b, t, u FROM unnest(%s::int[], %s::bigint[], %s::float8[]) AS a(b, t, u) "
            "ON CONFLICT (device_id, boot_id) DO NOTHING RETURNING boot_id",
            (device_id, list(first), [t for t, _ in first.values()], [u for _, u in first.values()]),
        )
        new = {int(b) for (b,) in await cur.fetchall()}
    undated: set[int] = set()
    for table in tables_of(r).values():
        if len(table):
            undated.update(int(b) for b in np.unique(table["boot_id"][~np.isfinite(table["utc"])]))
    if not undated:
        return new
    await cur.execute(
        "SELECT boot_id, ticks, utc FROM boot_anchors WHERE device_id = %s AND boot_id = ANY(%s)",
        (device_id, sorted(undated)),
    )
    for boot, ticks, utc in await cur.fetchall():
        for table in tables_of(r).values():
            rows = (table["boot_id"] == boot) & ~np.isfinite(table["utc"])
            if rows.any():
                delta_ms = table["ticks"][rows].astype(np.int64) - int(ticks)
                table["utc"][rows] = float(utc) + delta_ms / 1000.0
    return new


def _json_row(row: Any) -> dict[str, Any]:
    """A quarantined reading as a JSON object (psycopg's jsonb dumper encodes it: a string here
    would be stored as a JSON string, and ``reading->>'ticks'`` would be null)."""
    out: dict[str, Any] = {}
    for name in row.dtype.names:
        value = row[name]
        if isinstance(value, np.ndarray):
            out[name] = value.tolist()
        elif isinstance(value, np.floating):
            out[name] = None if not np.isfinite(value) else float(value)
        else:
            out[name] = value.item() if hasattr(value, "item") else value
    return out


async def _quarantine(
    cur: AsyncCursor[Any], device_id: str, received_at: datetime, rows: list[tuple[str, str, Any]]
) -> None:
    if not rows:
        return
    async with cur.copy(
        "COPY quarantine (received_at, device_id, kind, reason, seq, boot_id, utc, reading) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["timestamptz", "text", "text", "text", "int8", "int4", "float8", "jsonb"])
        for kind, reason, row in rows:
            utc = float(row["utc"]) if "utc" in (row.dtype.names or ()) and np.isfinite(row["utc"]) else None
            await copy.write_row(
                (
                    received_at,
                    device_id,
                    kind,
                    reason,
                    int(row["seq"]),
                    int(row["boot_id"]),
                    utc,
                    _json_row(row),
                )
            )
            metrics.QUARANTINED.labels(kind, reason).inc()


async def _copy_kind(cur: AsyncCursor[Any], device_id: str, kind: str, table: Table) -> None:
    name, fields = LAYOUT[kind]
    n = len(table)
    columns = [
        Column(table["utc"], "timestamptz"),
        Column(np.array(device_id.encode()), "text"),
        Column(table["boot_id"], "int4"),
        Column(table["seq"], "int8"),
        Column(table["ticks"], "int8"),
        *(Column(table[field], kind_) for _, field, kind_ in fields),
    ]
    names = ", ".join([*_BASE, *(c for c, _, _ in fields)])
    async with cur.copy(f"COPY {name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(copy_body(columns))
    if kind == "track":
        await rollup.add_track(cur, device_id, table)
    metrics.READINGS.labels(kind).inc(n)


async def _copy_health(cur: AsyncCursor[Any], device_id: str, table: Table) -> None:
    async with cur.copy(
        "COPY device_health (time, device_id, boot_id, seq, ticks, boot_count, free_heap, flash_used_kb, "
        "dropped_blocks, counters) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(
            ["timestamptz", "text", "int4", "int8", "int8", "int4", "int8", "int4", "int8", "int4[]"]
        )
        for row in table:
            await copy.write_row(
                (
                    datetime.fromtimestamp(float(row["utc"]), tz=UTC),
                    device_id,
                    int(row["boot_id"]),
                    int(row["seq"]),
                    int(row["ticks"]),
                    int(row["boot_count"]),
                    int(row["free_heap"]),
                    int(row["flash_used_kb"]),
                    int(row["dropped_blocks"]),
                    [int(c) for c in row["counters"][: int(row["n_counters"])]],
                )
            )
    metrics.READINGS.labels("health").inc(len(table))


async def write_readings(
    cur: AsyncCursor[Any], device_id: str, blocks: Blocks, received_at: datetime
) -> None:
    """Decode, date, filter and store the readings of newly arrived ``blocks``.

    When these blocks bring the first time anchor of a boot, readings of that boot quarantined
    earlier as undated (they arrived first: a van uploading at the depot before its first fix) are
    taken out of quarantine, dated and stored.
    """
    new_boots = await _process(cur, device_id, blocks, received_at, record_decode_errors=True)
    if new_boots:
        await _redate(cur, device_id, new_boots, received_at)


async def _redate(cur: AsyncCursor[Any], device_id: str, boots: set[int], received_at: datetime) -> None:
    await cur.execute(
        "WITH d AS (DELETE FROM quarantine WHERE device_id = %s AND reason = 'no_time' AND boot_id = ANY(%s) "
        "RETURNING seq) SELECT DISTINCT seq FROM d ORDER BY seq",
        (device_id, sorted(boots)),
    )
    seqs = [int(s) for (s,) in await cur.fetchall()]
    if not seqs:
        return
    await cur.execute(
        "SELECT blocks FROM raw_runs WHERE device_id = %s AND first_seq <= %s AND last_seq >= %s "
        "ORDER BY first_seq",
        (device_id, seqs[-1], seqs[0]),
    )
    stored = Blocks.concat([parse_blocks(bytes(raw)) for (raw,) in await cur.fetchall()])
    blocks = stored.take(np.isin(stored.seq, seqs))
    metrics.REDATED_BLOCKS.inc(len(blocks))
    await _process(cur, device_id, blocks, received_at, record_decode_errors=False)


async def _process(
    cur: AsyncCursor[Any],
    device_id: str,
    blocks: Blocks,
    received_at: datetime,
    *,
    record_decode_errors: bool,
) -> set[int]:
    r = decode_blocks(blocks)
    new_boots = await _anchor(cur, device_id, r)
    await store_boots(cur, device_id, r, received_at)
    quarantined: list[tuple[str, str, Any]] = []
    if r.errors and record_decode_errors:
        for err in r.errors:
            metrics.DECODE_ERRORS.labels(err.reason).inc()
        errors = np.zeros(
            len(r.errors), [("seq", "u4"), ("boot_id", "i4"), ("offset", "u4"), ("skipped_bytes", "u4")]
        )
        boots = dict(zip(blocks.seq.tolist(), blocks.boot_id.tolist(), strict=True))
        for i, e in enumerate(r.errors):
            errors[i] = (e.seq, boots.get(e.seq, -1), e.offset, e.skipped_bytes)
        quarantined += [("decode", e.reason, errors[i]) for i, e in enumerate(r.errors)]
    now = time.time()
    for kind, table in tables_of(r).items():
        if not len(table):
            continue
        keep, rejected = apply_filters(kind, table, now)
        quarantined += [(kind, reason, table[row]) for row, reason in rejected]
        good = table if keep.all() else table[keep]  # a boolean mask copies every row
        if not len(good):
            continue
        if kind == "health":
            await _copy_health(cur, device_id, good)
        else:
            await _copy_kind(cur, device_id, kind, good)
    await _quarantine(cur, device_id, received_at, quarantined)
    return new_boots
