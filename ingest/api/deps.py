"""Typed dependencies shared by the API routes."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, cast

import psycopg
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingest.api.errors import ApiError
from ingest.core.config import Settings
from ingest.registry.store import Gateway, authenticate_gateway, token_digest

#: How long a gateway token stays trusted in memory before the database is asked again.
_TOKEN_CACHE_SECONDS = 30.0


def get_pool(request: Request) -> AsyncConnectionPool:
    return cast(AsyncConnectionPool, request.app.state.pool)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    return token.strip()


def retry_later(settings: Settings, detail: str) -> ApiError:
    return ApiError(503, "unavailable", detail, {"Retry-After": str(settings.retry_after_seconds)})


async def get_gateway(request: Request, pool: PoolDep, settings: SettingsDep) -> Gateway:
    token = _bearer(request)
    cache: dict[bytes, tuple[float, Gateway]] = request.app.state.gateway_tokens
    digest = token_digest(token)
    hit = cache.get(digest)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    try:
        async with pool.connection(timeout=settings.write_wait_seconds) as conn:
            gateway = await authenticate_gateway(conn, token)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None
    if gateway is None:
        raise ApiError(401, "unauthorized", "unknown gateway token", {"WWW-Authenticate": "Bearer"})
    cache[digest] = (time.monotonic() + _TOKEN_CACHE_SECONDS, gateway)
    return gateway


def require_admin(request: Request, settings: SettingsDep) -> None:
    token = _bearer(request)
    if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        raise ApiError(401, "unauthorized", "bad admin token", {"WWW-Authenticate": "Bearer"})


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
AdminDep = Annotated[None, Depends(require_admin)]
