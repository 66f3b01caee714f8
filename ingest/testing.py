"""pytest fixtures shared by every test folder (loaded with ``-p ingest.testing``).

- ``database_url``: a fresh database for this test run on the private cluster (or on the server of
  ``FACTEUR_DATABASE_URL``), with timescaledb and postgis, dropped at the end of the run.
- ``micropython``: the MicroPython unix port built by ``make bootstrap``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import hypothesis
import pytest
import uvicorn

from ingest import localdb

# Property tests: `make test` draws a fixed, reproducible sample of examples (a run is never red by
# the luck of the draw); `make test-long` sets FACTEUR_HYPOTHESIS=explore to search new ones.
hypothesis.settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
hypothesis.settings.register_profile("explore", print_blob=True)
hypothesis.settings.load_profile(os.environ.get("FACTEUR_HYPOTHESIS", "fixed"))

if TYPE_CHECKING:
    from ingest.core.config import Settings


def _admin_url() -> str:
    url = os.environ.get("FACTEUR_DATABASE_URL")
    if url:
        return url.rsplit("/", 1)[0] + "/postgres"
    db = localdb.LocalDatabase.default()
    db.start()
    return db.url("postgres")


@contextmanager
def scratch_database(prefix: str = "facteur_test") -> Iterator[str]:
    """A new database with facteur's extensions on the test server; dropped on exit."""
    admin = _admin_url()
    name = f"{prefix}_{secrets.token_hex(4)}"
    localdb.create_database(admin, name)
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        localdb.drop_database(admin, name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with scratch_database() as url:
        yield url


def micropython_path() -> Path:
    """The unix-port binary: ``$FACTEUR_MICROPYTHON``, else the one next to this interpreter."""
    env = os.environ.get("FACTEUR_MICROPYTHON")
    candidates = [Path(env)] if env else []
    candidates.append(Path(sys.executable).parent / "micropython")
    found = shutil.which("micropython")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("the MicroPython unix port is not built; run `make bootstrap`")


@pytest.fixture(scope="session")
def micropython() -> Path:
    return micropython_path()


def run_micropython(
    binary: Path, code: str, *, heap: str = "64k", cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` on the unix port with a board-sized heap; returns the finished process."""
    return subprocess.run(
        [str(binary), "-X", f"heapsize={heap}", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


#: How many sessions of the current database wait for an advisory lock (ingest serialises a device's
#: writes on one): tests hold the lock and wait on this before they act.
WAITING_FOR_ADVISORY_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """Serve an ASGI app with uvicorn on a free loopback port in a background thread."""

    def __init__(self, app: object, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


# -- the ingest service and its registry, for the chunk API and gateway tests -----------------------

ADMIN_TOKEN = "test-admin-token"


@dataclass(frozen=True)
class IngestService:
    """A running ingest service (real HTTP, real database) and its admin token."""

    url: str
    database_url: str
    admin_token: str = ADMIN_TOKEN

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def add_device(self, depot: str = "depot-test", device_id: str | None = None) -> tuple[str, bytes]:
        """Register a new device; returns its id and key."""
        device_id = device_id or f"van-{secrets.token_hex(4)}"
        r = httpx.post(
            f"{self.url}/v1/registry/devices",
            json={"device_id": device_id, "depot": depot, "vehicle": "AA-000-AA"},
            headers=self.admin_headers,
            timeout=10,
        )
        r.raise_for_status()
        return device_id, bytes.fromhex(r.json()["key_hex"])

    def add_gateway(self, depot: str = "depot-test") -> tuple[str, str]:
        """Register a new gateway; returns its id and bearer token."""
        gateway_id = f"gw-{secrets.token_hex(4)}"
        r = httpx.post(
            f"{self.url}/v1/registry/gateways",
            json={"gateway_id": gateway_id, "depot": depot},
            headers=self.admin_headers,
            timeout=10,
        )
        r.raise_for_status()
        return gateway_id, str(r.json()["token"])


def ingest_settings(database_url: str, **overrides: Any) -> Settings:
    from ingest.core.config import Settings  # noqa: PLC0415

    return Settings(database_url=database_url, admin_token=ADMIN_TOKEN, **overrides)


@pytest.fixture(scope="session")
def ingest_service(database_url: str) -> Iterator[IngestService]:
    """One ingest service for the session (tests register their own devices and gateways)."""
    from ingest.app import create_app  # noqa: PLC0415

    with LiveServer(create_app(ingest_settings(database_url))) as server:
        yield IngestService(server.url, database_url)
