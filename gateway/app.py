"""The depot gateway's HTTP service: vans upload here; ``/health``, ``/status``, ``/metrics``.

``POST /v1/chunks`` (``application/vnd.facteur.chunk``): the chunk is parsed (CRCs, contiguous
seqs), its HMAC checked with the device's key from the cache synced from ingest, its seq range
checked against what this gateway already holds for the van, and it is fsynced into the spool
before the reply ``{"device_id": ..., "acked_seq": N}``. A retransmission is acknowledged again
without storing anything.

    python -m gateway --ingest-url http://ingest:8400 --token ... --spool-dir /var/lib/facteur
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from gateway import metrics
from gateway.config import GatewaySettings
from gateway.forwarder import Forwarder
from gateway.spool import Spool, VanStatus
from ingest.chunks.batch import CHUNK_MEDIA_TYPE
from ingest.records.decode import decode_blocks
from ingest.records.envelope import Chunk, ChunkError, parse_chunk

log = logging.getLogger("gateway")


class Ack(BaseModel):
    device_id: str
    #: Highest contiguous seq held durably for the device (may exceed the chunk's last seq).
    acked_seq: int


class ErrorBody(BaseModel):
    error: str
    detail: str
    acked_seq: int | None = None


class ForwarderOut(BaseModel):
    ingest_url: str
    in_window: bool
    last_attempt: float | None
    last_success: float | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: float | None
    keys_synced_at: float | None
    keys_last_error: str | None


class Status(BaseModel):
    backlog_chunks: int
    backlog_bytes: int
    forwarder: ForwarderOut
    #: Per van, as the spool keeps it (``gateway.spool.VanStatus``).
    vans: list[VanStatus]


def _error(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    metrics.REJECTIONS.labels(error).inc()
    return JSONResponse(
        status_code=status, content={"error": error, "detail": detail, **extra}, headers=headers
    )


def newest_reading_utc(spool: Spool, chunk: Chunk) -> float | None:
    """The latest dated reading in the chunk (for ``/status``), using the boots' time anchors."""
    r = decode_blocks(chunk.blocks)
    if len(r.time):
        first = r.time[np.argsort(r.time["ticks"], kind="stable")]
        found: dict[int, tuple[int, float]] = {}
        for row in first:
            found.setdefault(int(row["boot_id"]), (int(row["ticks"]), float(row["utc"])))
        spool.add_anchors(chunk.device_id, found)
    anchors = spool.anchors(chunk.device_id)
    newest: float | None = None
    for table in (r.track, r.air, r.co2, r.coverage, r.potholes):
        if not len(table):
            continue
        utc = table["utc"].copy()
        for boot, (ticks, at) in anchors.items():
            rows = (table["boot_id"] == boot) & ~np.isfinite(utc)
            utc[rows] = at + (table["ticks"][rows].astype(np.int64) - ticks) / 1000.0
        utc = utc[np.isfinite(utc)]
        if len(utc):
            newest = max(newest or float("-inf"), float(utc.max()))
    return newest


def _parse_and_find_key(spool: Spool, body: bytes) -> tuple[Chunk, bytes | None]:
    chunk = parse_chunk(body)
    return chunk, spool.key(chunk.device_id)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {CHUNK_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (400, 401, 403, 413, 415, 503)}


def create_app(settings: GatewaySettings) -> FastAPI:
    spool = Spool(settings.spool_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        forwarder = Forwarder(settings, spool)
        app.state.forwarder = forwarder
        task = asyncio.create_task(forwarder.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await forwarder.aclose()
            spool.close()

    app = FastAPI(title="facteur gateway", version="0.1.0", lifespan=lifespan)
    app.state.spool = spool

    @app.post(
        "/v1/chunks", response_model=Ack, responses=_ERRORS, openapi_extra=_UPLOAD_BODY, tags=["upload"]
    )
    async def upload(request: Request) -> Ack | JSONResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != CHUNK_MEDIA_TYPE:
            return _error(415, "media_type", f"send {CHUNK_MEDIA_TYPE}")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_body_bytes:
            return _error(413, "too_large", f"chunks are capped at {settings.max_body_bytes} bytes")
        parts, size = [], 0
        async for part in request.stream():
            size += len(part)
            if size > settings.max_body_bytes:
                return _error(413, "too_large", f"chunks are capped at {settings.max_body_bytes} bytes")
            parts.append(part)
        body = b"".join(parts)
        try:
            chunk, key = await asyncio.to_thread(_parse_and_find_key, spool, body)
        except ChunkError as exc:
            return _error(400, exc.reason, exc.detail)
        forwarder = cast(Forwarder, app.state.forwarder)
        if key is None and await forwarder.sync_keys(force=True):
            key = await asyncio.to_thread(spool.key, chunk.device_id)
        if key is None:
            return _error(403, "unknown_device", f"{chunk.device_id} is not in this depot's registry")
        if not chunk.verify(key) and not (
            # The key may have changed at ingest since the last sync: look once more.
            await forwarder.sync_keys(force=True)
            and (key := await asyncio.to_thread(spool.key, chunk.device_id)) is not None
            and chunk.verify(key)
        ):
            return _error(401, "bad_mac", "the chunk's HMAC does not match the device key")
        if chunk.last_seq < chunk.first_seq:
            return _error(400, "seq_wrap", "chunks wrapping around seq 2^32 are not accepted")
        try:
            newest = await asyncio.to_thread(newest_reading_utc, spool, chunk)
        except Exception:  # the status column is a nicety; a decoder failure must not refuse the chunk
            log.exception("could not decode chunk for status")
            newest = None
        try:
            outcome = await asyncio.to_thread(spool.put, chunk, body, newest)
        except sqlite3.Error as exc:
            log.error("spool write failed: %s", exc)
            return _error(
                503, "spool_unavailable", str(exc), {"Retry-After": str(settings.retry_after_seconds)}
            )
        metrics.UPLOADS.labels("stored" if outcome.stored else "retransmission").inc()
        return Ack(device_id=chunk.device_id, acked_seq=outcome.acked_seq)

    @app.get("/health", tags=["status"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/status", response_model=Status, tags=["status"])
    async def status() -> Status:
        forwarder = cast(Forwarder, app.state.forwarder)
        vans = await asyncio.to_thread(spool.vans)
        chunks, nbytes = await asyncio.to_thread(spool.backlog)
        s = forwarder.state
        return Status(
            backlog_chunks=chunks,
            backlog_bytes=nbytes,
            forwarder=ForwarderOut(
                ingest_url=settings.ingest_url,
                in_window=s.in_window,
                last_attempt=s.last_attempt,
                last_success=s.last_success,
                last_error=s.last_error,
                consecutive_failures=s.consecutive_failures,
                next_attempt_at=s.next_attempt_at,
                keys_synced_at=await asyncio.to_thread(spool.keys_synced_at),
                keys_last_error=s.keys_last_error,
            ),
            vans=vans,
        )

    @app.get("/metrics", tags=["status"], response_class=Response)
    async def prometheus() -> Response:
        chunks, nbytes = await asyncio.to_thread(spool.backlog)
        metrics.BACKLOG_CHUNKS.set(chunks)
        metrics.BACKLOG_BYTES.set(nbytes)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
