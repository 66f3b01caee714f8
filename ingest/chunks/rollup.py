"""The hourly track rollup (``track_hourly``) kept by the service when TimescaleDB cannot.

With the Apache build there are no continuous aggregates, so each batch of track rows the service
stores is summed per (van, hour) in NumPy and added to ``track_hourly`` in the same transaction.
With the Timescale License build, migration 0005 makes ``track_hourly`` a continuous aggregate and
this module does nothing.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
from psycopg import AsyncConnection, AsyncCursor

from ingest.filters.rules import Table

_UPSERT = """
INSERT INTO track_hourly (device_id, hour, readings, fixes, rms_sum, rms_n, norm_sum, norm_n, peak_max)
SELECT d, to_timestamp(h), r, f, rs, rn, ns, nn, pm
FROM unnest(%s::text[], %s::float8[], %s::bigint[], %s::bigint[], %s::float8[], %s::bigint[], %s::float8[],
            %s::bigint[], %s::real[]) AS u(d, h, r, f, rs, rn, ns, nn, pm)
ON CONFLICT (device_id, hour) DO UPDATE SET
    readings = track_hourly.readings + excluded.readings,
    fixes = track_hourly.fixes + excluded.fixes,
    rms_sum = track_hourly.rms_sum + excluded.rms_sum,
    rms_n = track_hourly.rms_n + excluded.rms_n,
    norm_sum = track_hourly.norm_sum + excluded.norm_sum,
    norm_n = track_hourly.norm_n + excluded.norm_n,
    peak_max = greatest(track_hourly.peak_max, excluded.peak_max)
"""

#: Per connection (each is bound to one database): does the service maintain the rollup itself?
#: Keyed by the connection object: ``info.dsn`` rebuilds a string at every call.
_MAINTAINED: weakref.WeakKeyDictionary[AsyncConnection[Any], bool] = weakref.WeakKeyDictionary()


async def _maintained(cur: AsyncCursor[Any]) -> bool:
    conn = cur.connection
    known = _MAINTAINED.get(conn)
    if known is None:
        await cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('track_hourly')")
        row = await cur.fetchone()
        known = _MAINTAINED[conn] = row is not None and row[0] == "r"
    return known


def hourly(track: Table) -> dict[str, Any]:
    """Per-hour sums of ``track`` rows (all dated): arrays for the upsert.

    Rows are grouped by hour with ``reduceat`` over runs of equal hours (a van's track arrives in
    time order, so usually without sorting): no ``np.unique`` sort and no ``np.maximum.at``.
    """
    hour = np.floor(track["utc"] / 3600.0)
    if len(hour) > 1 and (hour[1:] < hour[:-1]).any():
        order = np.argsort(hour, kind="stable")
        hour, track = hour[order], track[order]
    starts = np.flatnonzero(np.r_[True, hour[1:] != hour[:-1]])
    rms, norm = track["rms"].astype(np.float64), track["norm"].astype(np.float64)
    peak = np.nan_to_num(track["peak"].astype(np.float64), nan=-np.inf)

    def total(values: Any) -> Any:
        return np.add.reduceat(values, starts)

    peak_max = np.maximum.reduceat(peak, starts)
    return {
        "hours": hour[starts] * 3600.0,
        "readings": np.diff(np.r_[starts, len(hour)]),
        "fixes": total(track["fix"].astype(np.int64)),
        "rms_sum": total(np.nan_to_num(rms)),
        "rms_n": total(np.isfinite(rms).astype(np.int64)),
        "norm_sum": total(np.nan_to_num(norm)),
        "norm_n": total(np.isfinite(norm).astype(np.int64)),
        "peak_max": np.where(np.isfinite(peak_max), peak_max, np.nan),
    }


async def add_track(cur: AsyncCursor[Any], tracks: dict[str, Table]) -> None:
    """Add each van's track rows (all dated) to its hours: one upsert for every van."""
    if not tracks or not await _maintained(cur):
        return
    per_van = [(device_id, hourly(t)) for device_id, t in tracks.items() if len(t)]
    if not per_van:
        return

    def joined(field: str) -> Any:
        return np.concatenate([h[field] for _, h in per_van])

    peak = joined("peak_max")
    await cur.execute(
        _UPSERT,
        (
            [device_id for device_id, h in per_van for _ in range(len(h["hours"]))],
            joined("hours").tolist(),
            joined("readings").tolist(),
            joined("fixes").tolist(),
            joined("rms_sum").tolist(),
            joined("rms_n").tolist(),
            joined("norm_sum").tolist(),
            joined("norm_n").tolist(),
            [None if np.isnan(p) else float(p) for p in peak],
        ),
    )
