"""Fixtures of the server-side fault tests: real gateway processes (``gateways``, from the gateway's
own tests) and the chain of ``hil_tests/chain`` (``chain_factory``: the real firmware uploading to a
real gateway). The kills and restarts each test made are printed at the end of the run."""

from __future__ import annotations

import pytest

from gateway.tests.conftest import gateways
from hil_tests.chain.conftest import chain_factory, frozen_firmware, transport
from hil_tests.faults_server.support import KILLS

__all__ = ["chain_factory", "frozen_firmware", "gateways", "transport"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if KILLS:
        terminalreporter.section("server-side faults: kills and restarts")
        for key in sorted(KILLS):
            terminalreporter.write_line(f"{key:<64}{KILLS[key]:>8}")
