"""The gateway's settings: one object, from ``FACTEUR_GATEWAY_*`` environment variables or flags.

>>> GatewaySettings(ingest_url="http://127.0.0.1:8400", token="t").port
8500
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACTEUR_GATEWAY_", extra="ignore")

    #: Where vans reach the gateway on the depot LAN.
    host: str = "0.0.0.0"
    port: int = 8500
    #: The durable spool (SQLite in WAL mode, synchronous=FULL).
    spool_dir: Path = Path("gateway-spool")
    #: The central ingest service and this gateway's token there.
    ingest_url: str = "http://127.0.0.1:8400"
    token: str = ""
    #: ``HH:MM-HH:MM`` (local time of the gateway, may cross midnight): forward only then.
    #: Empty: forward whenever the WAN is up (the default).
    forward_window: str = ""
    #: A van uploads about an hour of driving per chunk (~32 KiB): 8 chunks is a van's day, small
    #: enough for ingest to acknowledge within a second or two, large enough to amortise a request.
    batch_max_chunks: int = 8
    batch_max_bytes: int = 4 * 1024 * 1024
    #: Exponential backoff with full jitter between failed forwards: base·2^n, capped.
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    #: Average upstream rate cap in bytes/s; 0 = none.
    bandwidth_bytes_per_second: int = 0
    #: Forwarded chunks stay in the spool this long (for a re-send by hand), then are deleted.
    keep_forwarded_hours: float = 72.0
    #: How often the device-key cache is refreshed from ingest.
    registry_sync_seconds: float = 600.0
    #: How often the forwarder looks for new chunks when idle.
    poll_seconds: float = 1.0
    #: Largest upload accepted from a van (413 beyond).
    max_body_bytes: int = 4 * 1024 * 1024
    retry_after_seconds: int = 5

    @field_validator("forward_window")
    @classmethod
    def _window(cls, value: str) -> str:
        if value and not _WINDOW.match(value):
            raise ValueError("forward_window must be HH:MM-HH:MM or empty")
        return value

    def window(self) -> tuple[time, time] | None:
        m = _WINDOW.match(self.forward_window)
        if not m:
            return None
        a, b, c, d = (int(x) for x in m.groups())
        return time(a, b), time(c, d)


def in_window(now: time, window: tuple[time, time] | None) -> bool:
    """Is ``now`` inside ``window`` (which may cross midnight)? No window: always."""
    if window is None:
        return True
    start, end = window
    if start <= end:
        return start <= now < end
    return now >= start or now < end
