"""Forward spooled chunks to ingest, and keep the device-key cache in sync with it.

The forwarder sends the oldest pending chunks as one batch (``POST /v1/chunks``, body
``application/vnd.facteur.chunk-batch``), and marks each chunk forwarded only when ingest's reply
(sent after its commit) says ``stored``. A crash anywhere in between means the batch is sent again,
which ingest de-duplicates by sequence range. Failures back off exponentially with full jitter;
429/503 ``Retry-After`` is honoured; an optional bandwidth cap spaces batches out; a forwarding
window restricts sending to, e.g., the night.

    forwarder = Forwarder(settings, spool)
    task = asyncio.create_task(forwarder.run())
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from gateway import metrics
from gateway.config import GatewaySettings, in_window
from gateway.spool import Spool, Spooled
from ingest.chunks.batch import BATCH_MEDIA_TYPE, join_batch

log = logging.getLogger("gateway.forwarder")


@dataclass
class ForwarderState:
    """What ``/status`` shows about the link to ingest."""

    last_attempt: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    next_attempt_at: float | None = None
    in_window: bool = True
    keys_last_error: str | None = None


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


class Forwarder:
    def __init__(
        self, settings: GatewaySettings, spool: Spool, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.state = ForwarderState()
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
        self._headers = {"Authorization": f"Bearer {settings.token}"}
        self._next_send = 0.0  # bandwidth cap: earliest monotonic time of the next send
        self._last_purge = 0.0
        self._last_key_sync = -1e18
        self._key_sync_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- device keys ------------------------------------------------------------------------

    async def sync_keys(self, *, force: bool = False) -> bool:
        """Refresh the device-key cache from ingest; keeps the old cache if ingest is unreachable."""
        async with self._key_sync_lock:
            now = time.monotonic()
            # Until a first sync succeeds (ingest not up yet), try again every few seconds.
            min_gap = 5.0 if force or self.state.keys_last_error else self.settings.registry_sync_seconds
            if now - self._last_key_sync < min_gap:
                return False
            self._last_key_sync = now
            try:
                r = await self._client.get(
                    f"{self.settings.ingest_url}/v1/gateway/devices", headers=self._headers
                )
                r.raise_for_status()
                keys = {d["device_id"]: bytes.fromhex(d["key_hex"]) for d in r.json()["devices"]}
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                self.state.keys_last_error = f"{type(exc).__name__}: {exc}"
                metrics.REGISTRY_SYNCS.labels("failed").inc()
                return False
            await asyncio.to_thread(self.spool.replace_keys, keys)
            self.state.keys_last_error = None
            metrics.REGISTRY_SYNCS.labels("ok").inc()
            return True

    # -- the loop ---------------------------------------------------------------------------

    def _backoff(self) -> float:
        n = self.state.consecutive_failures
        cap = min(self.settings.backoff_max_seconds, self.settings.backoff_base_seconds * 2 ** min(n, 30))
        return random.uniform(0, cap)

    def _fail(self, reason: str, detail: str, delay: float | None = None) -> float:
        self.state.consecutive_failures += 1
        self.state.last_error = f"{reason}: {detail}"
        metrics.FORWARD_FAILURES.labels(reason).inc()
        wait = self._backoff() if delay is None else delay
        self.state.next_attempt_at = time.time() + wait
        return wait

    async def forward_once(self) -> float:
        """Send one batch if any; returns how long to wait before the next attempt."""
        batch = await asyncio.to_thread(
            self.spool.pending, self.settings.batch_max_chunks, self.settings.batch_max_bytes
        )
        if not batch:
            return self.settings.poll_seconds
        body = join_batch([c.body for c in batch])
        if self.settings.bandwidth_bytes_per_second > 0:
            wait = self._next_send - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_send = (
                max(self._next_send, time.monotonic()) + len(body) / self.settings.bandwidth_bytes_per_second
            )
        self.state.last_attempt = time.time()
        try:
            r = await self._client.post(
                f"{self.settings.ingest_url}/v1/chunks",
                content=body,
                headers={**self._headers, "Content-Type": BATCH_MEDIA_TYPE},
            )
        except httpx.HTTPError as exc:
            return self._fail("unreachable", f"{type(exc).__name__}: {exc}")
        if r.status_code in (429, 503):
            default = self._backoff()
            return self._fail(
                f"http_{r.status_code}",
                r.text[:200],
                retry_after_seconds(r.headers.get("retry-after"), default),
            )
        if r.status_code == 413 and len(batch) == 1:
            await asyncio.to_thread(self.spool.mark_rejected, batch[0], "too_large")
            metrics.FORWARD_REJECTED.labels("too_large").inc()
            return 0.0
        if r.status_code != 200:
            return self._fail(f"http_{r.status_code}", r.text[:200])
        try:
            results = r.json()["results"]
            by_index = {int(x["index"]): x for x in results}
        except (ValueError, KeyError, TypeError) as exc:
            return self._fail("bad_reply", str(exc))
        done: list[Spooled] = []
        for i, chunk in enumerate(batch):
            result = by_index.get(i)
            if result is None:
                continue  # not acknowledged: sent again next time
            if result.get("status") == "stored":
                done.append(chunk)
            elif result.get("status") == "rejected":
                reason = str(result.get("error") or "rejected")
                await asyncio.to_thread(self.spool.mark_rejected, chunk, reason)
                metrics.FORWARD_REJECTED.labels(reason).inc()
                log.warning(
                    "ingest rejected chunk %s %s..%s: %s",
                    chunk.device_id,
                    chunk.first_seq,
                    chunk.last_seq,
                    reason,
                )
        await asyncio.to_thread(self.spool.mark_forwarded, done)
        metrics.FORWARDED.inc(len(done))
        metrics.FORWARDED_BYTES.inc(len(body))
        self.state.consecutive_failures = 0
        self.state.last_success = time.time()
        self.state.last_error = None
        self.state.next_attempt_at = None
        return 0.0

    async def run(self) -> None:
        await self.sync_keys(force=True)
        while True:
            try:
                wait = await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the forwarder die; say why and retry
                log.exception("forwarder step failed")
                wait = self._fail("internal", f"{type(exc).__name__}: {exc}")
            if wait > 0:
                await asyncio.sleep(wait)

    async def _tick(self) -> float:
        await self.sync_keys()
        now = time.monotonic()
        if now - self._last_purge > 600:
            self._last_purge = now
            await asyncio.to_thread(self.spool.purge_forwarded, self.settings.keep_forwarded_hours * 3600)
        self.state.in_window = in_window(datetime.now().time(), self.settings.window())
        if not self.state.in_window:
            return min(60.0, self.settings.poll_seconds * 10)
        return await self.forward_once()
