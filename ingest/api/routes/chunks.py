"""``POST /v1/chunks``: gateways forward the chunks vans uploaded; acknowledged after commit.

The body is one chunk (``application/vnd.facteur.chunk``) or a batch of them
(``application/vnd.facteur.chunk-batch``, see :mod:`ingest.chunks.batch`). Each chunk's device HMAC
is verified again here (end to end: the gateway is not trusted), then the chunks are trimmed to
the sequence numbers not stored yet and written in one transaction with the record of the ranges.
The reply counts, per chunk, the blocks accepted and the duplicates skipped; it is sent only once
the transaction has committed, so a gateway may forget a chunk as soon as it reads ``stored``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import psycopg
from fastapi import APIRouter, Request
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.api.deps import GatewayDep, PoolDep, SettingsDep, retry_later
from ingest.api.errors import ApiError, error_responses
from ingest.backpressure import SaturatedError, WriteLimiter
from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE, BatchError, split_batch
from ingest.chunks.store import ReadingsWriter, store_chunks
from ingest.core import metrics
from ingest.core.config import Settings
from ingest.records.envelope import Chunk, ChunkError, parse_chunk
from ingest.registry.store import device_keys

router = APIRouter(tags=["chunks"])


class ChunkResult(BaseModel):
    """What became of one chunk of the request."""

    index: int
    device_id: str | None
    first_seq: int | None
    last_seq: int | None
    status: Literal["stored", "rejected"]
    #: Blocks stored by this request.
    accepted: int = 0
    #: Blocks that had already arrived (an overlap or an exact replay): nothing written for them.
    duplicate: int = 0
    error: str | None = None
    detail: str | None = None


class ChunkAck(BaseModel):
    """Sent after commit: every ``stored`` chunk is durable and need not be sent again."""

    gateway_id: str
    accepted: int
    duplicate: int
    rejected: int
    results: list[ChunkResult]


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {CHUNK_MEDIA_TYPE: _BINARY, BATCH_MEDIA_TYPE: _BINARY},
        "description": "One chunk exactly as the van uploaded it, or a batch of them.",
    }
}

#: HTTP status for a single-chunk request rejected for this reason.
_SINGLE_STATUS = {"bad_mac": 401, "unknown_device": 403, "foreign_device": 403}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"body of {declared} bytes exceeds the {limit}-byte cap")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise ApiError(413, "too_large", f"body exceeds the {limit}-byte cap")
        parts.append(part)
    return b"".join(parts)


def _rejected(index: int, error: str, detail: str, chunk: Chunk | None = None) -> ChunkResult:
    metrics.CHUNKS.labels("rejected").inc()
    metrics.REJECTIONS.labels(error).inc()
    return ChunkResult(
        index=index,
        device_id=chunk.device_id if chunk else None,
        first_seq=chunk.first_seq if chunk else None,
        last_seq=chunk.last_seq if chunk else None,
        status="rejected",
        error=error,
        detail=detail,
    )


def _parse_all(bodies: list[bytes]) -> tuple[list[tuple[int, Chunk]], list[ChunkResult]]:
    parsed: list[tuple[int, Chunk]] = []
    rejected: list[ChunkResult] = []
    for index, body in enumerate(bodies):
        try:
            chunk = parse_chunk(body)
        except ChunkError as exc:
            rejected.append(_rejected(index, exc.reason, exc.detail))
            continue
        if chunk.last_seq < chunk.first_seq:
            rejected.append(
                _rejected(index, "seq_wrap", "chunks wrapping around seq 2^32 are not accepted", chunk)
            )
            continue
        parsed.append((index, chunk))
    return parsed, rejected


@router.post(
    "/v1/chunks",
    response_model=ChunkAck,
    openapi_extra=_OPENAPI_BODY,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 503),
    summary="Forward chunks (gateway token); acknowledged after commit",
)
async def post_chunks(
    request: Request, gateway: GatewayDep, pool: PoolDep, settings: SettingsDep
) -> ChunkAck:
    started = time.perf_counter()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (CHUNK_MEDIA_TYPE, BATCH_MEDIA_TYPE):
        metrics.BATCH_REJECTIONS.labels("media_type").inc()
        raise ApiError(415, "media_type", f"send {CHUNK_MEDIA_TYPE} or {BATCH_MEDIA_TYPE}")
    body = await read_body(request, settings.max_body_bytes)
    single = media == CHUNK_MEDIA_TYPE
    if single:
        bodies = [body]
    else:
        try:
            bodies = split_batch(body)
        except BatchError as exc:
            metrics.BATCH_REJECTIONS.labels(exc.reason).inc()
            raise ApiError(400, f"batch_{exc.reason}", exc.detail) from None
    parsed, rejected = await asyncio.to_thread(_parse_all, bodies)
    limiter: WriteLimiter = request.app.state.write_limiter
    writer: ReadingsWriter | None = request.app.state.readings_writer
    try:
        async with limiter.slot(), pool.connection(timeout=settings.write_wait_seconds) as conn:
            keys = await device_keys(conn, sorted({c.device_id for _, c in parsed})) if parsed else {}
            verified: list[tuple[int, Chunk]] = []
            for index, chunk in parsed:
                key, depot = keys.get(chunk.device_id, (None, None))
                if key is None:
                    rejected.append(
                        _rejected(index, "unknown_device", f"{chunk.device_id} is not registered", chunk)
                    )
                elif depot != gateway.depot:
                    # The device's signature is end to end, but a gateway only relays its own
                    # depot's vans: a leaked token of one depot cannot feed another depot's data.
                    rejected.append(
                        _rejected(
                            index,
                            "foreign_device",
                            f"{chunk.device_id} is registered to another depot than this gateway's",
                            chunk,
                        )
                    )
                elif not chunk.verify(key):
                    rejected.append(
                        _rejected(index, "bad_mac", "the chunk's HMAC does not match its device key", chunk)
                    )
                else:
                    verified.append((index, chunk))
            outcomes = (
                await store_chunks(conn, gateway.gateway_id, [c for _, c in verified], writer)
                if verified
                else []
            )
    except SaturatedError as exc:
        metrics.SATURATED.labels(exc.reason).inc()
        raise retry_later(settings, f"ingest is saturated ({exc.reason}); retry later") from None
    except (PoolTimeout, psycopg.OperationalError) as exc:
        metrics.SATURATED.labels("database").inc()
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None
    results = sorted(
        rejected
        + [
            ChunkResult(
                index=index,
                device_id=o.device_id,
                first_seq=o.first_seq,
                last_seq=o.last_seq,
                status="stored",
                accepted=o.accepted,
                duplicate=o.duplicate,
            )
            for (index, _), o in zip(verified, outcomes, strict=True)
        ],
        key=lambda r: r.index,
    )
    accepted = sum(r.accepted for r in results)
    duplicate = sum(r.duplicate for r in results)
    metrics.CHUNKS.labels("stored").inc(len(outcomes))
    metrics.BLOCKS.labels("accepted").inc(accepted)
    metrics.BLOCKS.labels("duplicate").inc(duplicate)
    metrics.ACK_SECONDS.observe(time.perf_counter() - started)
    if single and rejected:
        r = rejected[0]
        assert r.error is not None and r.detail is not None
        raise ApiError(_SINGLE_STATUS.get(r.error, 400), r.error, r.detail)
    return ChunkAck(
        gateway_id=gateway.gateway_id,
        accepted=accepted,
        duplicate=duplicate,
        rejected=len(rejected),
        results=results,
    )


def make_limiter(settings: Settings) -> WriteLimiter:
    return WriteLimiter(
        settings.max_concurrent_writes, settings.max_waiting_writes, settings.write_wait_seconds
    )


class CountResponses:
    """Count the chunk API's answers by HTTP status (``facteur_ingest_chunk_requests_total``).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs
    every request through a task and memory streams, a few percent of the service's CPU per batch.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chunks":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics.REQUESTS.labels(str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)
