"""A real gateway process (``python -m gateway``) for tests and HIL harnesses, which can be killed
and restarted; and its spool, opened while it is stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from ingest.testing import free_port

#: Fast timings so the tests do not wait on production-sized backoffs.
FAST = {
    "FACTEUR_GATEWAY_POLL_SECONDS": "0.1",
    "FACTEUR_GATEWAY_BACKOFF_BASE_SECONDS": "0.1",
    "FACTEUR_GATEWAY_BACKOFF_MAX_SECONDS": "0.5",
}


class GatewayProcess:
    def __init__(self, spool_dir: Path, ingest_url: str, token: str, **env: str) -> None:
        self.spool_dir = spool_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **FAST,
            "FACTEUR_GATEWAY_HOST": "127.0.0.1",
            "FACTEUR_GATEWAY_PORT": str(self.port),
            "FACTEUR_GATEWAY_SPOOL_DIR": str(spool_dir),
            "FACTEUR_GATEWAY_INGEST_URL": ingest_url,
            "FACTEUR_GATEWAY_TOKEN": token,
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> GatewayProcess:
        self.env.update(env)
        with (self.spool_dir.parent / f"gateway-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway"], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    def kill(self) -> None:
        """SIGKILL: the gateway gets no chance to clean up (a power cut, as far as it knows)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def upload(self, body: bytes) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/chunks",
            content=body,
            headers={"Content-Type": "application/vnd.facteur.chunk"},
            timeout=10,
        )

    def status(self) -> dict[str, object]:
        r = httpx.get(f"{self.url}/status", timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def wait_drained(self, timeout: float = 30) -> dict[str, object]:
        """Wait until nothing is waiting to be forwarded; returns the final status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["backlog_chunks"] == 0:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"backlog not drained: {status}")
            time.sleep(0.1)


@contextlib.contextmanager
def open_spool(spool_dir: Path) -> Iterator[sqlite3.Connection]:
    """The spool database of a stopped gateway, to tamper with; committed and closed on exit."""
    db = sqlite3.connect(spool_dir / "spool.sqlite3")
    try:
        with db:
            yield db
    finally:
        db.close()
