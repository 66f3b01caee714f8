"""Apply the ordered SQL migrations in ``ingest/schema/migrations/`` to a database.

Files are named ``NNNN_what.sql`` and applied in name order, each in its own transaction, once:
the applied versions are recorded in ``schema_migrations``. An advisory lock makes concurrent
start-ups of several workers safe (one applies, the others wait and find nothing left to do).

    >>> apply("postgresql://...")   # doctest: +SKIP
    ['0001_readings', '0020_road_segments']
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
#: Arbitrary constant identifying facteur's migration lock among advisory locks.
_LOCK_KEY = 0x6661637465757231


class MigrationError(RuntimeError):
    """A migration file is misnamed or failed to apply; the message names it."""


def migration_files(folder: Path = MIGRATIONS) -> list[Path]:
    files = sorted(folder.glob("*.sql"))
    for f in files:
        if not _NAME.match(f.name):
            raise MigrationError(f"migration file {f.name} is not named NNNN_lowercase_words.sql")
    return files


def apply(conninfo: str, folder: Path = MIGRATIONS) -> list[str]:
    """Apply the pending migrations; returns the versions applied by this call."""
    applied_now: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for path in migration_files(folder):
                version = path.stem
                if version in done:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(path.read_text())
                        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {path.name} failed: {exc}") from exc
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
