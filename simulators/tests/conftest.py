"""Shared test trajectories (built by ``simulators.loops``)."""

from __future__ import annotations

import pytest

from simulators.loops import block_loop
from simulators.trajectory import Trajectory


@pytest.fixture
def loop() -> Trajectory:
    return block_loop()
