"""Migrations apply in order, once, atomically, and a bad one is reported by name."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ingest.schema import migrate


@pytest.fixture
def fresh_schema_url(database_url: str) -> Iterator[str]:
    """The run's database, but in a private schema so these tests start from nothing."""
    schema = f"m_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{database_url}?options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql)


def test_applies_in_order_once(fresh_schema_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0002_b.sql", "INSERT INTO t VALUES (2);")
    write(tmp_path, "0001_a.sql", "CREATE TABLE t (v int); INSERT INTO t VALUES (1);")
    assert migrate.apply(fresh_schema_url, tmp_path) == ["0001_a", "0002_b"]
    assert migrate.apply(fresh_schema_url, tmp_path) == []
    write(tmp_path, "0003_c.sql", "INSERT INTO t VALUES (3);")
    assert migrate.apply(fresh_schema_url, tmp_path) == ["0003_c"]
    with psycopg.connect(fresh_schema_url) as conn:
        assert [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v")] == [1, 2, 3]


def test_failed_migration_is_named_and_leaves_nothing_behind(fresh_schema_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE t (v int);")
    write(tmp_path, "0002_bad.sql", "INSERT INTO t VALUES (1); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(migrate.MigrationError, match=r"0002_bad\.sql"):
        migrate.apply(fresh_schema_url, tmp_path)
    with psycopg.connect(fresh_schema_url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == ["0001_a"]


def test_misnamed_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "readings.sql", "SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=r"readings\.sql"):
        migrate.migration_files(tmp_path)


def test_project_migrations_apply_cleanly(database_url: str) -> None:
    migrate.apply(database_url)
    assert migrate.apply(database_url) == []
