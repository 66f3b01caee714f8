"""Trajectory: speed law within its limits, stops held, truth consistent at any rate."""

from __future__ import annotations

import numpy as np

from simulators.loops import block_loop
from simulators.trajectory import DriveStyle


def test_speed_never_exceeds_limits_and_acceleration_is_bounded() -> None:
    traj = block_loop(laps=2)
    truth = traj.sample(np.arange(0.0, traj.duration, 0.05))
    seg_limits = np.tile([13.9, 8.3, 13.9, 8.3], 2)
    assert np.all(truth.speed <= seg_limits[truth.segment] + 1e-6)
    style = DriveStyle()
    assert truth.accel.max() <= style.accel + 1e-6
    assert truth.accel.min() >= -style.decel - 1e-6


def test_stops_hold_the_van_for_their_dwell() -> None:
    traj = block_loop(laps=2)
    for stop, arrive in zip(traj.stops, traj.stop_arrival_t, strict=True):
        during = traj.sample(np.linspace(arrive, arrive + stop.dwell_s, 50))
        assert np.allclose(during.s, stop.s)
        assert np.all(during.speed == 0.0)


def test_distance_is_the_integral_of_speed() -> None:
    traj = block_loop()
    t = np.arange(0.0, traj.duration, 0.01)
    truth = traj.sample(t)
    travelled = np.trapezoid(truth.speed, t)
    assert abs(travelled - traj.length) < 0.01 * traj.length
    assert traj.sample([traj.duration]).s[0] == traj.length


def test_corners_are_taken_slowly() -> None:
    traj = block_loop()
    at_corner = traj.sample(np.interp([500.0], traj.knot_s, traj.knot_t))
    assert at_corner.speed[0] < 5.0  # a 90° street corner at walking-bike pace
