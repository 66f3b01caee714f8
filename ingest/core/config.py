"""The ingest service's settings: one object, read from ``FACTEUR_*`` environment variables.

>>> Settings(database_url="postgresql://u:p@127.0.0.1:5432/facteur").port
8400
"""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACTEUR_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    #: ``FACTEUR_DATABASE_URL``; unset means the private local cluster (see ``ingest.localdb``).
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8400
    #: Connections held open to the database by one worker.
    db_pool_size: int = 8
    #: Apply pending schema migrations at start-up (off for a worker whose database is unreachable
    #: on purpose, e.g. the test of ``/health`` answering 503).
    apply_migrations: bool = True
