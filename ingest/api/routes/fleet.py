"""Fleet health: every device (last seen, last sync, backlog, firmware, error counters from its
last HEALTH record) and every gateway (last seen, last sync, chunks and devices of the last day).

``backlog_s`` is how far the device's stored track is ahead of what has been map-matched (work
waiting centrally); what a van still holds on its flash is ``flash_used_kb`` from its own report.
``firmware_version``, ``reset_cause`` and ``booted_at`` come from the device's latest BOOT record
(firmware/FORMAT.md, kind 0x80; ``device_boots``): null for a device that has not uploaded one yet
(firmware older than the record). ``reset_cause`` is ESP32's ``machine.reset_cause()`` by name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from psycopg.rows import dict_row

from ingest.api.deps import PoolDep
from ingest.records.decode import HEALTH_COUNTERS

router = APIRouter(prefix="/v1/fleet", tags=["fleet"])

ERROR_COUNTERS = tuple(
    n
    for n in HEALTH_COUNTERS
    if any(w in n for w in ("fail", "error", "garbage", "overrun", "timeout", "bad"))
)

DEVICES_SQL = """
SELECT d.device_id, d.depot, d.vehicle,
       lt.time AS last_seen, cr.received_at AS last_sync, cr.gateway_id AS last_gateway, cr.last_seq,
       extract(epoch FROM lt.time - ms.matched_until) AS backlog_s,
       h.time AS health_time, h.boot_count, h.free_heap, h.flash_used_kb, h.dropped_blocks, h.counters,
       fb.firmware_version, fb.reset_cause, fb.booted_at
FROM devices d
LEFT JOIN LATERAL (SELECT time FROM track t WHERE t.device_id = d.device_id
                   ORDER BY time DESC LIMIT 1) lt ON true
LEFT JOIN LATERAL (SELECT received_at, gateway_id, last_seq FROM chunk_ranges c
                   WHERE c.device_id = d.device_id ORDER BY first_seq DESC LIMIT 1) cr ON true
LEFT JOIN LATERAL (SELECT * FROM device_health x WHERE x.device_id = d.device_id
                   ORDER BY time DESC LIMIT 1) h ON true
LEFT JOIN LATERAL (SELECT firmware_version, reset_cause, time AS booted_at FROM device_boots b
                   WHERE b.device_id = d.device_id ORDER BY received_at DESC, seq DESC LIMIT 1) fb ON true
LEFT JOIN matching_state ms ON ms.device_id = d.device_id
ORDER BY d.device_id
"""

GATEWAYS_SQL = """
SELECT g.gateway_id, g.depot, g.last_seen, max(c.received_at) AS last_sync,
       count(c.*) FILTER (WHERE c.received_at > now() - interval '1 day') AS chunks_24h,
       count(DISTINCT c.device_id) FILTER (WHERE c.received_at > now() - interval '1 day') AS devices_24h
FROM gateways g LEFT JOIN chunk_ranges c ON c.gateway_id = g.gateway_id
GROUP BY g.gateway_id, g.depot, g.last_seen ORDER BY g.gateway_id
"""


#: ESP32 ``machine.reset_cause()`` values (ports/esp32/modmachine.c); 255 is "not reported".
RESET_CAUSES = {1: "power_on", 2: "hard", 3: "watchdog", 4: "deep_sleep", 5: "soft"}


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


@router.get("/devices", summary="Every registered device's health")
async def devices(pool: PoolDep) -> dict[str, Any]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(DEVICES_SQL)
        rows = await cur.fetchall()
    out = []
    for r in rows:
        counters = dict(zip(HEALTH_COUNTERS, r.pop("counters") or [], strict=False))
        item = {k: _iso(v) for k, v in r.items()}
        item["backlog_s"] = max(0.0, float(r["backlog_s"])) if r["backlog_s"] is not None else None
        cause = r["reset_cause"]
        item["reset_cause"] = None if cause is None else RESET_CAUSES.get(int(cause), "unknown")
        item["counters"] = counters
        item["errors"] = sum(counters.get(n, 0) for n in ERROR_COUNTERS)
        out.append(item)
    return {"devices": out, "error_counters": list(ERROR_COUNTERS)}


@router.get("/gateways", summary="Every registered gateway's health")
async def gateways(pool: PoolDep) -> dict[str, Any]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(GATEWAYS_SQL)
        rows = await cur.fetchall()
    return {"gateways": [{k: _iso(v) for k, v in r.items()} for r in rows]}
