"""Two depots on one ingest service, each with its real gateway process and its vans.

``depots`` (one pair per session): depot A and depot B, each a registered gateway (``python -m gateway``,
its token) and two registered vans with keys, plus van chunks encoded and signed by the firmware's
own code on the MicroPython unix port. ``tally`` counts the bad inputs each test tried, per hop;
the counts are printed at the end of the run.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.testing import GatewayProcess
from hil_tests.faults_server.support import firmware_chunks
from ingest.testing import IngestService

#: Bad inputs tried, by "hop: kind" (printed in the terminal summary).
TALLY: Counter[str] = Counter()


@dataclass
class Depot:
    name: str
    gateway: GatewayProcess
    token: str
    vans: list[tuple[str, bytes]]


@dataclass
class Depots:
    ingest: IngestService
    a: Depot
    b: Depot
    micropython: Path

    def chunks(self, van: tuple[str, bytes], first_seq: int, blocks: int = 8) -> list[bytes]:
        """One firmware chunk per 8 blocks of ``van`` from ``first_seq``."""
        return firmware_chunks(self.micropython, van[0], van[1], first_seq=first_seq, blocks=blocks,
                               chunk_blocks=8)  # fmt: skip


def _start_depot(ingest: IngestService, name: str, spool: Path) -> Depot:
    spool.parent.mkdir(parents=True, exist_ok=True)
    vans = [ingest.add_device(name) for _ in range(5)]  # one or two per test, never shared
    _, token = ingest.add_gateway(name)
    gateway = GatewayProcess(spool, ingest.url, token).start()
    # Until its key cache holds the depot's vans (the first sync runs at start-up).
    deadline = time.monotonic() + 10
    while gateway.status()["forwarder"]["keys_synced_at"] is None:  # type: ignore[index]
        assert time.monotonic() < deadline, gateway.status()
        time.sleep(0.05)
    return Depot(name, gateway, token, vans)


@pytest.fixture(scope="session")
def depots(
    ingest_service: IngestService, micropython: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Depots]:
    root = tmp_path_factory.mktemp("depots")
    suffix = secrets.token_hex(3)  # depots of their own: their van lists are exact
    a = _start_depot(ingest_service, f"depot-sec-a-{suffix}", root / "a" / "spool")
    try:
        b = _start_depot(ingest_service, f"depot-sec-b-{suffix}", root / "b" / "spool")
    except Exception:
        a.gateway.stop()
        raise
    try:
        yield Depots(ingest_service, a, b, micropython)
    finally:
        a.gateway.stop()
        b.gateway.stop()


@pytest.fixture
def tally() -> Counter[str]:
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        terminalreporter.section("security: bad inputs tried, by hop")
        for key in sorted(TALLY):
            terminalreporter.write_line(f"{key:<72}{TALLY[key]:>8}")
        terminalreporter.write_line(f"{'total':<64}{sum(TALLY.values()):>8}")
