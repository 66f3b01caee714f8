"""Fixtures of the gateway tests: real gateway processes (``gateway.testing``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import GatewayProcess


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    """Gateways a test starts are appended here and stopped at its end."""
    started: list[GatewayProcess] = []
    yield started
    for g in started:
        g.stop()
