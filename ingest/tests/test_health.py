"""``/health`` over real HTTP: reports the database and both extension versions, or 503."""

from __future__ import annotations

import re

import httpx
import psycopg

from ingest.app import create_app
from ingest.core.config import Settings
from ingest.testing import LiveServer, free_port


def test_health_reports_database_and_extension_versions(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        expected: dict[str, str] = dict(
            conn.execute("SELECT extname, extversion FROM pg_extension").fetchall()
        )
    with LiveServer(create_app(Settings(database_url=database_url))) as server:
        response = httpx.get(server.url + "/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    db = body["database"]
    assert db["connected"] is True
    assert db["timescaledb"] == expected["timescaledb"]
    assert db["postgis"] == expected["postgis"]
    assert re.match(r"^15\.\d+", db["postgresql"])
    assert db["timescaledb_license"] == "apache"


def test_health_is_503_when_the_database_is_unreachable() -> None:
    dead = f"postgresql://nobody:x@127.0.0.1:{free_port()}/facteur?connect_timeout=1"
    with LiveServer(create_app(Settings(database_url=dead, apply_migrations=False))) as server:
        response = httpx.get(server.url + "/health", timeout=20)
    assert response.status_code == 503
    assert response.json()["database"]["connected"] is False
