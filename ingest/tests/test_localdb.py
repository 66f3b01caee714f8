"""The private cluster: idempotent start/stop, and a one-line error when its port is taken."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ingest import localdb
from ingest.testing import free_port


@pytest.fixture
def scratch_cluster() -> Iterator[localdb.LocalDatabase]:
    # Under the state folder, not /tmp/pytest-of-root: the postgres user must reach it.
    root = localdb.state_dir() / "test-clusters" / f"c{free_port()}"
    db = localdb.LocalDatabase(root, free_port(), localdb.LocalDatabase.default().bindir)
    try:
        yield db
    finally:
        db.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_start_is_idempotent_and_creates_extensions(scratch_cluster: localdb.LocalDatabase) -> None:
    url = scratch_cluster.ensure_running()
    assert scratch_cluster.ensure_running() == url
    assert scratch_cluster.running()
    with psycopg.connect(url) as conn:
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert {"timescaledb", "postgis"} <= extensions
    assert preload == ("timescaledb",)
    scratch_cluster.stop()
    scratch_cluster.stop()
    assert not scratch_cluster.running()


def test_taken_port_gives_one_line_error(scratch_cluster: localdb.LocalDatabase) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", scratch_cluster.port))
        squatter.listen()
        with pytest.raises(localdb.LocalDatabaseError) as err:
            scratch_cluster.start()
    message = str(err.value)
    assert "\n" not in message
    assert f"port {scratch_cluster.port}" in message and "taken" in message


def test_missing_postgresql_is_explained(tmp_path: Path) -> None:
    db = localdb.LocalDatabase(tmp_path / "db", free_port(), tmp_path / "no-such-bin")
    with pytest.raises(localdb.LocalDatabaseError, match="make bootstrap"):
        db.start()
