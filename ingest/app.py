"""The ingest service's FastAPI application.

facteur run                      # the whole local stack, see ingest.cli
uvicorn --factory ingest.app:create_app   # with FACTEUR_DATABASE_URL set
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from ingest import dashboard, localdb
from ingest.api import errors
from ingest.api.routes import chunks, exports, fleet, health, metrics, registry, replay, segments, tiles
from ingest.chunks.readings import write_readings
from ingest.core.config import Settings
from ingest.core.retention import retention_loop
from ingest.db import open_pool
from ingest.indicators import worker as indicators_worker
from ingest.schema import migrate


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    url = settings.database_url or localdb.database_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.apply_migrations:
            await asyncio.to_thread(migrate.apply, url)
        # As many connections ready as requests may write at once.
        app.state.pool = await open_pool(url, settings.db_pool_size, min_size=settings.max_concurrent_writes)
        app.state.write_limiter = chunks.make_limiter(settings)
        retention = asyncio.create_task(
            retention_loop(app.state.pool, timedelta(days=settings.retention_days))
        )
        indicators = indicators_worker.start(url)
        try:
            yield
        finally:
            await indicators_worker.stop(indicators)
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
            await app.state.pool.close()

    app = FastAPI(
        title="facteur ingest",
        version="0.1.0",
        lifespan=lifespan,
        description="Chunks forwarded by depot gateways, the device registry, health and metrics.",
    )
    app.state.settings = settings
    app.state.gateway_tokens = {}
    app.state.readings_writer = write_readings
    errors.install(app)
    app.add_middleware(chunks.CountResponses)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(chunks.router)
    app.include_router(registry.router)
    app.include_router(segments.router)
    app.include_router(exports.router)
    app.include_router(tiles.router)
    app.include_router(replay.router)
    app.include_router(fleet.router)
    dashboard.mount(app)
    return app
