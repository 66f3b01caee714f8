"""Store the BOOT records of newly arrived blocks (firmware version, reset cause) in ``device_boots``.

Runs in the transaction that stores the blocks, after the time anchors (``readings._anchor``), so a
boot whose readings are dated in this chunk is dated too; a boot stored undated (its van uploaded
before a GNSS fix) gets its UTC when a later chunk brings the anchor. Replays are no-ops (the row
of a block's seq is kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from psycopg import AsyncCursor

from ingest.records.decode import Readings

INSERT = """
INSERT INTO device_boots (device_id, seq, boot_id, ticks, boot_count, reset_cause, firmware_version, time,
                          received_at)
SELECT b.device_id, b.seq, b.boot_id, b.ticks, b.boot_count, b.cause, b.version,
       to_timestamp(COALESCE(b.utc, a.utc + (b.ticks - a.ticks) / 1000.0)), %(received)s
FROM unnest(%(device)s::text[], %(seq)s::bigint[], %(boot)s::int[], %(ticks)s::bigint[], %(count)s::int[],
            %(cause)s::smallint[], %(version)s::text[], %(utc)s::float8[])
     AS b(device_id, seq, boot_id, ticks, boot_count, cause, version, utc)
LEFT JOIN boot_anchors a ON a.device_id = b.device_id AND a.boot_id = b.boot_id
ON CONFLICT (device_id, seq) DO NOTHING
"""

DATE_LATER = """
UPDATE device_boots d SET time = to_timestamp(a.utc + (d.ticks - a.ticks) / 1000.0)
FROM boot_anchors a
WHERE d.device_id = ANY(%s) AND d.time IS NULL AND a.device_id = d.device_id AND a.boot_id = d.boot_id
"""


async def store_boots(cur: AsyncCursor[Any], decoded: dict[str, Readings], received_at: Any) -> int:
    """Store every van's BOOT records (one statement for all) and date boots stored undated whose
    anchor has arrived; the number of BOOT records sent."""
    vans = [(device_id, r.boots) for device_id, r in decoded.items() if len(r.boots)]
    if vans:
        boots = np.concatenate([b for _, b in vans])
        await cur.execute(
            INSERT,
            {
                "device": [device_id for device_id, b in vans for _ in range(len(b))],
                "received": received_at,
                "seq": boots["seq"].astype(np.int64).tolist(),
                "boot": boots["boot_id"].astype(np.int64).tolist(),
                "ticks": boots["ticks"].astype(np.int64).tolist(),
                "count": boots["boot_count"].astype(np.int64).tolist(),
                "cause": boots["reset_cause"].astype(np.int64).tolist(),
                "version": [str(v) for v in boots["firmware_version"]],
                "utc": [float(u) if np.isfinite(u) else None for u in boots["utc"]],
            },
        )
    timed = [device_id for device_id, r in decoded.items() if len(r.time)]
    if timed:  # these chunks may bring the anchor of a boot stored undated
        await cur.execute(DATE_LATER, (timed,))
    return sum(len(b) for _, b in vans)
