"""Shared test trajectories (``simulators.loops``, re-exported here for older importers)."""

from __future__ import annotations

import pytest

from simulators.loops import HELSINKI, block_loop
from simulators.trajectory import Trajectory

__all__ = ["HELSINKI", "block_loop"]


@pytest.fixture
def loop() -> Trajectory:
    return block_loop()
