"""Decode newly stored blocks into readings, date them, filter them, and COPY them into hypertables.

Runs inside the transaction that stores the blocks (see :func:`ingest.chunks.store.store_chunks`),
so readings exist exactly when their range is recorded. Readings the decoder could not date get UTC
from their boot's time anchor (``boot_anchors``: the first GNSS time record of the boot, possibly
from an earlier chunk); rows refused by a filter and records the decoder could not read go to
``quarantine`` with a reason, and are counted.

Every van of a request is handled at once: one COPY per record kind, one statement each for the
time anchors, the boots and the hourly rollup, whatever the number of vans (a gateway's batch
interleaves the uploads of a depot's vans).

    await write_readings(cur, {"van-0001": blocks, "van-0002": other_blocks}, received_at)
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
from psycopg import AsyncCursor

from ingest.chunks import rollup
from ingest.chunks.boots import store_boots
from ingest.chunks.pgcopy import HEADER, TRAILER, Column, copy_body
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


async def _anchor(cur: AsyncCursor[Any], decoded: dict[str, Readings]) -> dict[str, set[int]]:
    """Record each van's first time record per boot; date undated rows from stored anchors.

    Returns, per van, the boots that got their anchor only now.
    """
    devices: list[str] = []
    boots: list[int] = []
    ticks: list[int] = []
    utcs: list[float] = []
    for device_id, r in decoded.items():
        if len(r.time):
            first: dict[int, tuple[int, float]] = {}
            for row in r.time[np.argsort(r.time["ticks"], kind="stable")]:
                first.setdefault(int(row["boot_id"]), (int(row["ticks"]), float(row["utc"])))
            for boot, (t, u) in first.items():
                devices.append(device_id)
                boots.append(boot)
                ticks.append(t)
                utcs.append(u)
    new: dict[str, set[int]] = {}
    if devices:
        await cur.execute(
            "INSERT INTO boot_anchors (device_id, boot_id, ticks, utc) "
            "SELECT d, b, t, u "
            "FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::float8[]) AS a(d, b, t, u) "
            "ON CONFLICT (device_id, boot_id) DO NOTHING RETURNING device_id, boot_id",
            (devices, boots, ticks, utcs),
        )
        for device_id, boot in await cur.fetchall():
            new.setdefault(str(device_id), set()).add(int(boot))
    undated: list[tuple[str, int]] = []
    for device_id, r in decoded.items():
        found: set[int] = set()
        for table in tables_of(r).values():
            if len(table):
                found.update(np.unique(table["boot_id"][~np.isfinite(table["utc"])]).tolist())
        undated += [(device_id, boot) for boot in sorted(found)]
    if not undated:
        return new
    await cur.execute(
        "SELECT a.device_id, a.boot_id, a.ticks, a.utc FROM boot_anchors a "
        "JOIN unnest(%s::text[], %s::int[]) AS u(d, b) ON a.device_id = u.d AND a.boot_id = u.b",
        ([d for d, _ in undated], [b for _, b in undated]),
    )
    for device_id, boot, anchor_ticks, utc in await cur.fetchall():
        for table in tables_of(decoded[str(device_id)]).values():
            rows = (table["boot_id"] == boot) & ~np.isfinite(table["utc"])
            if rows.any():
                delta_ms = table["ticks"][rows].astype(np.int64) - int(anchor_ticks)
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


#: A reading set aside: (van, record kind, reason, the row of its decoded table).
Quarantined = tuple[str, str, str, Any]


async def _quarantine(cur: AsyncCursor[Any], received_at: datetime, rows: list[Quarantined]) -> None:
    if not rows:
        return
    async with cur.copy(
        "COPY quarantine (received_at, device_id, kind, reason, seq, boot_id, utc, reading) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["timestamptz", "text", "text", "text", "int8", "int4", "float8", "jsonb"])
        for device_id, kind, reason, row in rows:
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


async def _copy_kind(cur: AsyncCursor[Any], kind: str, tables: dict[str, Table]) -> None:
    """One COPY of every van's rows of ``kind``: each van's rows framed by one header and trailer."""
    name, fields = LAYOUT[kind]
    names = ", ".join([*_BASE, *(c for c, _, _ in fields)])
    async with cur.copy(f"COPY {name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(HEADER)
        for device_id, table in tables.items():
            columns = [
                Column(table["utc"], "timestamptz"),
                Column(np.array(device_id.encode()), "text"),
                Column(table["boot_id"], "int4"),
                Column(table["seq"], "int8"),
                Column(table["ticks"], "int8"),
                *(Column(table[field], kind_) for _, field, kind_ in fields),
            ]
            await copy.write(copy_body(columns, framed=False))
        await copy.write(TRAILER)


async def _copy_health(cur: AsyncCursor[Any], tables: dict[str, Table]) -> None:
    async with cur.copy(
        "COPY device_health (time, device_id, boot_id, seq, ticks, boot_count, free_heap, flash_used_kb, "
        "dropped_blocks, counters) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(
            ["timestamptz", "text", "int4", "int8", "int8", "int4", "int8", "int4", "int8", "int4[]"]
        )
        for device_id, table in tables.items():
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


async def write_readings(
    cur: AsyncCursor[Any], runs: dict[str, Blocks], received_at: datetime
) -> metrics.ReadingCounts:
    """Decode, date, filter and store the readings of newly arrived blocks, ``runs`` per van; what
    was stored and set aside, for the metrics once the write is durable.

    When these blocks bring the first time anchor of a boot, readings of that boot quarantined
    earlier as undated (they arrived first: a van uploading at the depot before its first fix) are
    taken out of quarantine, dated and stored.
    """
    counts: metrics.ReadingCounts = Counter()
    new_boots = await _process(cur, runs, received_at, counts, record_decode_errors=True)
    if new_boots:
        await _redate(cur, new_boots, received_at, counts)
    return counts


async def _redate(
    cur: AsyncCursor[Any], boots: dict[str, set[int]], received_at: datetime, counts: metrics.ReadingCounts
) -> None:
    pairs = [(d, b) for d, bs in boots.items() for b in sorted(bs)]
    await cur.execute(
        "WITH d AS (DELETE FROM quarantine q USING unnest(%s::text[], %s::int[]) AS u(d, b) "
        "WHERE q.device_id = u.d AND q.boot_id = u.b AND q.reason = 'no_time' RETURNING q.device_id, q.seq) "
        "SELECT DISTINCT device_id, seq FROM d ORDER BY device_id, seq",
        ([d for d, _ in pairs], [b for _, b in pairs]),
    )
    seqs: dict[str, list[int]] = {}
    for device_id, seq in await cur.fetchall():
        seqs.setdefault(str(device_id), []).append(int(seq))
    runs: dict[str, Blocks] = {}
    for device_id, wanted in seqs.items():
        await cur.execute(
            "SELECT blocks FROM raw_runs WHERE device_id = %s AND first_seq <= %s AND last_seq >= %s "
            "ORDER BY first_seq",
            (device_id, wanted[-1], wanted[0]),
        )
        stored = Blocks.concat([parse_blocks(bytes(raw)) for (raw,) in await cur.fetchall()])
        runs[device_id] = stored.take(np.isin(stored.seq, wanted))
        counts["redated",] += len(runs[device_id])
    if runs:
        await _process(cur, runs, received_at, counts, record_decode_errors=False)


def _decode_errors(blocks: Blocks, r: Readings) -> list[tuple[str, Any]]:
    """The records the decoder could not read, as (reason, row) for the quarantine."""
    errors = np.zeros(
        len(r.errors), [("seq", "u4"), ("boot_id", "i4"), ("offset", "u4"), ("skipped_bytes", "u4")]
    )
    boots = dict(zip(blocks.seq.tolist(), blocks.boot_id.tolist(), strict=True))
    for i, e in enumerate(r.errors):
        errors[i] = (e.seq, boots.get(e.seq, -1), e.offset, e.skipped_bytes)
    return [(e.reason, errors[i]) for i, e in enumerate(r.errors)]


async def _process(
    cur: AsyncCursor[Any],
    runs: dict[str, Blocks],
    received_at: datetime,
    counts: metrics.ReadingCounts,
    *,
    record_decode_errors: bool,
) -> dict[str, set[int]]:
    decoded = {device_id: decode_blocks(blocks) for device_id, blocks in runs.items()}
    new_boots = await _anchor(cur, decoded)
    counts["stored", "boots"] += await store_boots(cur, decoded, received_at)
    quarantined: list[Quarantined] = []
    good: dict[str, dict[str, Table]] = {}  # kind -> van -> rows kept
    now = time.time()
    for device_id, r in decoded.items():
        if r.errors and record_decode_errors:
            for reason, row in _decode_errors(runs[device_id], r):
                quarantined.append((device_id, "decode", reason, row))
                counts["decode_error", reason] += 1
        for kind, table in tables_of(r).items():
            if not len(table):
                continue
            keep, rejected = apply_filters(kind, table, now)
            quarantined += [(device_id, kind, reason, table[row]) for row, reason in rejected]
            kept = table if keep.all() else table[keep]  # a boolean mask copies every row
            if len(kept):
                good.setdefault(kind, {})[device_id] = kept
                counts["stored", kind] += len(kept)
    for kind, tables in good.items():
        if kind == "health":
            await _copy_health(cur, tables)
        else:
            await _copy_kind(cur, kind, tables)
    if "track" in good:
        await rollup.add_track(cur, good["track"])
    await _quarantine(cur, received_at, quarantined)
    for _, kind, reason, _ in quarantined:
        counts["quarantined", kind, reason] += 1
    return new_boots
