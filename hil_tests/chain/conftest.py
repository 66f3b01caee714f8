"""Fixtures of the chain tests: the transport, the frozen firmware, and depots of the chain.

    def test_x(chain_factory):
        with chain_factory() as chain:     # hil_tests.chain.harness.Chain: gateway + van at ingest
            ...

The transport is the simulators unless ``--port`` names a real board's serial port; tests that
need the lockstep simulators are skipped on a board, and board tests without ``--port``, each with
the reason.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil_tests.chain.harness import Chain
from hil_tests.firmware.harness import frozen_micropython, frozen_source_ready
from ingest.testing import IngestService


@pytest.fixture(scope="session")
def transport(request: pytest.FixtureRequest) -> str:
    return "board" if request.config.getoption("--port") else "sim"


@pytest.fixture(scope="session")
def frozen_firmware(transport: str) -> Path:
    """The unix port with firmware/ frozen in (rebuilt when the firmware changed)."""
    if transport != "sim":
        pytest.skip("needs the simulator transport (lockstep clock on the unix port); --port selects a board")
    if not frozen_source_ready():
        pytest.skip("the frozen firmware build's source is not in the cache: run `make firmware-frozen`")
    return frozen_micropython()


@pytest.fixture
def chain_factory(
    ingest_service: IngestService, frozen_firmware: Path, tmp_path: Path
) -> Iterator[Callable[..., Chain]]:
    """Make depots (``Chain``) for this test; each is a context manager, closed at the end anyway."""
    made: list[Chain] = []

    def make(**kw: Any) -> Chain:
        chain = Chain(ingest_service, tmp_path / f"chain-{len(made)}", **kw)
        made.append(chain)
        return chain

    yield make
    for chain in made:
        chain.__exit__(None, None, None)


@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A real board on ``--port`` and its wiring file; skipped without them."""
    port = request.config.getoption("--port")
    if not port:
        pytest.skip("no board: pass --port /dev/ttyUSB0 (and --board-wiring) to run on hardware")
    if not Path(port).exists():
        pytest.skip(f"no serial device at {port}")
    wiring_file = Path(request.config.getoption("--board-wiring"))
    if not wiring_file.is_file():
        pytest.skip(f"no board wiring file at {wiring_file}")
    mpremote = Path(__file__).resolve().parents[2] / ".cache" / "firmware-venv" / "bin" / "mpremote"
    tool = str(mpremote) if mpremote.is_file() else shutil.which("mpremote")
    if tool is None:
        pytest.skip("mpremote is not installed: run `make firmware-venv`")
    return {"port": port, "wiring": json.loads(wiring_file.read_text()), "mpremote": tool}
