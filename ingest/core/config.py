"""The ingest service's settings: one object, read from ``FACTEUR_*`` environment variables.

>>> Settings(database_url="postgresql://u:p@127.0.0.1:5432/facteur").port
8400
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The admin token a development stack runs with when none is set; refused in production.
DEVELOPMENT_ADMIN_TOKEN = "facteur-dev-admin"


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
    #: Bearer token for the registry API (``/v1/registry``); a placeholder is refused in production.
    admin_token: str = DEVELOPMENT_ADMIN_TOKEN
    #: Largest request body accepted on the chunk API (413 beyond).
    max_body_bytes: int = 8 * 1024 * 1024
    #: Chunk requests writing to the database at once, per worker.
    max_concurrent_writes: int = 4
    #: Requests allowed to wait for a write slot; beyond, 503 at once.
    max_waiting_writes: int = 16
    #: How long a request waits for a write slot before 503 + ``Retry-After``.
    write_wait_seconds: float = 2.0
    #: ``Retry-After`` sent with 429/503.
    retry_after_seconds: int = 5
    #: Raw blocks and readings older than this are dropped (by whole TimescaleDB chunks).
    retention_days: int = 400

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production" and self.admin_token == DEVELOPMENT_ADMIN_TOKEN:
            raise ValueError("FACTEUR_ADMIN_TOKEN must be set to a real secret in production")
        return self
