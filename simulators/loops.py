"""Small trajectories in Helsinki's local frame, for tests, benches and the firmware harness.

>>> traj = block_loop(laps=108)        # ~8 h: 108 laps of a 1.8 km block, a stop per lap
"""

from __future__ import annotations

import numpy as np

from simulators.geo import LocalFrame
from simulators.trajectory import Stop, Trajectory

HELSINKI = LocalFrame(lon0=24.94, lat0=60.17)


def block_loop(laps: int = 1, canyon: float = 0.0, dwell_s: float = 0.0) -> Trajectory:
    """A 500 m × 400 m block driven ``laps`` times, one delivery stop per lap."""
    corners = np.array([[0, 0], [500, 0], [500, 400], [0, 400], [0, 0]], float)
    xy = np.concatenate([corners[:-1]] * laps + [corners[-1:]])
    n_seg = len(xy) - 1
    limits = np.tile([13.9, 8.3, 13.9, 8.3], laps)
    stops = [Stop(s=1800.0 * k + 700.0, dwell_s=60.0) for k in range(laps)]
    return Trajectory.build(
        HELSINKI,
        xy,
        limits,
        stops,
        start_dwell_s=dwell_s,
        seg_canyon=np.full(n_seg, canyon),
    )
