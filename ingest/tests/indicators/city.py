"""A database of its own holding the synthetic city with indicators computed, for the indicator,
query and dashboard tests (their own database, so the rows do not disturb other suites' counts).

Each test folder's ``conftest.py`` re-exports :func:`city`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import psycopg
import pytest

from ingest import localdb
from ingest.indicators.job import JobReport, recompute
from ingest.indicators.synthetic import CityTruth, seed_city
from ingest.schema import migrate
from ingest.testing import _admin_url

START = date(2026, 11, 2)  # a Monday


@dataclass(frozen=True)
class City:
    url: str
    truth: CityTruth
    report: JobReport


@pytest.fixture(scope="session")
def city() -> Iterator[City]:
    admin = _admin_url()
    name = f"facteur_test_city_{secrets.token_hex(4)}"
    localdb.create_database(admin, name)
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.apply(url)
        with psycopg.connect(url) as conn:
            truth = seed_city(conn, start=START, days=5, devices=3)
            conn.commit()
            report = recompute(conn)
        yield City(url, truth, report)
    finally:
        localdb.drop_database(admin, name)
