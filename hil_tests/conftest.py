"""Options of the hardware-in-the-loop suites.

``--port /dev/ttyUSB0`` runs the board tests on a real board on that serial port (the default
transport is the simulators: the firmware on the unix port, wired through ptys and the host link);
``--board-wiring FILE`` declares how that board is wired (``hil_tests/chain/boards/``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

DEFAULT_BOARD_WIRING = Path(__file__).resolve().parent / "chain" / "boards" / "esp32-carrier.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("facteur-hil", "hardware in the loop")
    group.addoption(
        "--port",
        default=None,
        help="serial port of a real board (e.g. /dev/ttyUSB0): run the board tests on it",
    )
    group.addoption(
        "--board-wiring",
        default=str(DEFAULT_BOARD_WIRING),
        help="JSON file declaring the board's wiring (pins, which serial adapter feeds which UART)",
    )
