"""The ingest service's FastAPI application.

facteur run                      # the whole local stack, see ingest.cli
uvicorn --factory ingest.app:create_app   # with FACTEUR_DATABASE_URL set
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ingest import localdb
from ingest.api.routes import health
from ingest.core.config import Settings
from ingest.db import open_pool
from ingest.schema import migrate


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    url = settings.database_url or localdb.database_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.apply_migrations:
            await asyncio.to_thread(migrate.apply, url)
        app.state.pool = await open_pool(url, settings.db_pool_size)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="facteur ingest", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health.router)
    return app
