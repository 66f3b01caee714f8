"""What the board's accelerometer feels: road profile → quarter-car → specific force, in g.

Combines the truth trajectory (speed, braking, turns), the road profile under the wheel (through
a tyre-envelope moving average), the van's quarter-car, gravity, the board's mounting angles and
white sensor noise. Internal samples run at ``rate_hz`` (400 Hz) and are generated lazily in
one-second blocks as simulated time advances; the chip model asks for output samples at its own
ODR, each the mean of the internal samples of its period (the chip's low-pass) plus noise.

    >>> src = AccelSource(traj, profile)
    >>> xyz_g = src.output(np.arange(0.0, 1.0, 0.01))   # (100, 3) in the sensor frame
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.geo import FloatArray
from simulators.iri import moving_average
from simulators.quarter_car import QuarterCar, VanSuspension
from simulators.road_profile import RoadProfile
from simulators.trajectory import Trajectory

G = 9.80665


@dataclass(frozen=True, slots=True)
class AccelConfig:
    rate_hz: float = 400.0
    noise_g: float = 0.004  # rms per axis at the output data rate
    mount_rpy_deg: tuple[float, float, float] = (1.5, -2.5, 0.0)  # board roll, pitch, yaw in the van
    tyre_base_m: float = 0.25
    seed: int = 3


def mount_matrix(roll_deg: float, pitch_deg: float, yaw_deg: float) -> FloatArray:
    """Rotation from the sensor frame to the vehicle frame (x forward, y left, z up)."""
    r, p, y = np.radians([roll_deg, pitch_deg, yaw_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


class AccelSource:
    """Lazily generated specific force at the board, sampled by the chip at its ODR."""

    def __init__(
        self,
        traj: Trajectory,
        profile: RoadProfile,
        config: AccelConfig | None = None,
        suspension: VanSuspension | None = None,
    ) -> None:
        self.cfg = cfg = config or AccelConfig()
        self.traj = traj
        self.profile = profile
        smooth = moving_average(profile.heights, profile.dx, cfg.tyre_base_m)
        pad = len(profile.heights) - len(smooth)
        self._wheel = np.concatenate(
            [np.full(pad // 2, smooth[0]), smooth, np.full(pad - pad // 2, smooth[-1])]
        )
        self.car = QuarterCar(cfg.rate_hz, suspension)
        self.to_sensor = mount_matrix(*cfg.mount_rpy_deg).T
        self._rng = np.random.default_rng(cfg.seed)
        self._block = int(10 * cfg.rate_hz)  # ten seconds per block
        self._first = 0  # index of the first kept internal sample
        self._kept: FloatArray = np.zeros((0, 3))
        self._next_index = 0  # index of the next internal sample to generate
        self._csum: FloatArray = np.zeros((1, 3))

    def wheel_height(self, s: npt.ArrayLike) -> FloatArray:
        # Linear interpolation by index on the evenly spaced profile (np.interp would need an
        # arange of the whole route's length per call: its cost grew with the round).
        w = self._wheel
        x = np.clip(np.asarray(s, dtype=np.float64) / self.profile.dx, 0, len(w) - 1)
        i = np.minimum(x.astype(np.int64), max(len(w) - 2, 0))
        f = x - i
        nxt = np.minimum(i + 1, len(w) - 1)
        return np.asarray(w[i] * (1.0 - f) + w[nxt] * f, dtype=np.float64)

    def vehicle_frame(self, t: FloatArray) -> FloatArray:
        """Specific force in the vehicle frame (m/s²), noise-free, advancing the quarter-car."""
        s, speed, accel = self.traj.kinematics(t)
        vertical = self.car.step(self.wheel_height(s))
        ahead = self.traj.heading_at_time(t + 0.25)
        behind = self.traj.heading_at_time(t - 0.25)
        yaw_ccw = -(((ahead - behind) + np.pi) % (2 * np.pi) - np.pi) / 0.5
        lateral = speed * yaw_ccw
        return np.stack([accel, lateral, G + vertical], axis=1)

    def _generate_until(self, t: float, oldest: float) -> None:
        rate = self.cfg.rate_hz
        oldest_index = int(np.floor((oldest - 1.0) * rate))
        need = int(np.floor(t * rate)) + 1
        if self._next_index >= need:
            return
        while self._next_index < need:
            idx = np.arange(self._next_index, self._next_index + self._block)
            sensor = self.vehicle_frame(idx / rate) @ self.to_sensor.T / G
            # Requests move forward in time: keep one period (≤ 1 s) before the oldest one asked for.
            keep_from = max(0, min(len(self._kept) - self._block, oldest_index - self._first))
            self._kept = np.concatenate([self._kept[keep_from:], sensor])
            self._first += keep_from
            self._next_index += self._block
        self._csum = np.concatenate([np.zeros((1, 3)), np.cumsum(self._kept, axis=0)])

    def output(self, times: npt.ArrayLike, odr_hz: float = 100.0) -> FloatArray:
        """Chip output (g, sensor frame) at ``times`` (ascending): mean of each period, plus noise."""
        t = np.asarray(times, dtype=np.float64)
        if len(t) == 0:
            return np.zeros((0, 3))
        rate = self.cfg.rate_hz
        self._generate_until(float(t[-1]), float(t[0]))
        per = max(1, round(rate / odr_hz))
        end = np.clip(np.floor(t * rate + 1e-9).astype(np.int64) - self._first + 1, 1, len(self._kept))
        start = np.maximum(end - per, 0)
        mean = (self._csum[end] - self._csum[start]) / (end - start)[:, None]
        noise = self._rng.normal(0.0, self.cfg.noise_g, size=mean.shape)
        return np.asarray(mean + noise, dtype=np.float64)
