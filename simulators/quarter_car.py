"""The van's quarter-car: road height under the wheel → vertical acceleration of the body.

A linear two-mass model (sprung body ``ms`` on suspension ``ks``/``cs``, unsprung wheel ``mu`` on
tyre ``kt``), discretised exactly (zero-order hold) at a fixed sample rate and run as an IIR
filter, so hours of 400 Hz samples cost a few tenths of a second. The filter keeps its state
between calls: feed it the road height under the wheel chunk by chunk, at whatever speed the van
drives, and it returns the body's vertical acceleration.

    >>> car = QuarterCar(rate_hz=400.0)
    >>> az = car.step(profile.height_at(s_of_each_sample))   # m/s², gravity excluded
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import expm  # type: ignore[import-untyped,unused-ignore]
from scipy.signal import lfilter, lfilter_zi, ss2tf  # type: ignore[import-untyped,unused-ignore]

from simulators.geo import FloatArray


@dataclass(frozen=True, slots=True)
class VanSuspension:
    """A loaded light commercial van, per wheel (body mode ~1.3 Hz, wheel hop ~12 Hz)."""

    ms: float = 450.0  # kg
    mu: float = 45.0  # kg
    ks: float = 30_000.0  # N/m
    cs: float = 2_500.0  # N·s/m
    kt: float = 250_000.0  # N/m


class QuarterCar:
    """Stateful discrete filter: wheel-input height (m) → body vertical acceleration (m/s²)."""

    def __init__(self, rate_hz: float = 400.0, params: VanSuspension | None = None) -> None:
        p = params or VanSuspension()
        a = np.array(
            [
                [0.0, 1.0, 0.0, 0.0],
                [-p.ks / p.ms, -p.cs / p.ms, p.ks / p.ms, p.cs / p.ms],
                [0.0, 0.0, 0.0, 1.0],
                [p.ks / p.mu, p.cs / p.mu, -(p.ks + p.kt) / p.mu, -p.cs / p.mu],
            ]
        )
        b = np.array([[0.0], [0.0], [0.0], [p.kt / p.mu]])
        dt = 1.0 / rate_hz
        big = np.zeros((5, 5))
        big[:4, :4] = a * dt
        big[:4, 4:] = b * dt
        e = expm(big)
        phi, gamma = e[:4, :4], e[:4, 4:]
        # Body acceleration is a row of the continuous dynamics applied to the discrete state.
        c = a[1:2, :]
        num, den = ss2tf(phi, gamma, c, np.zeros((1, 1)))
        self.num = np.asarray(num[0], dtype=np.float64)
        self.den = np.asarray(den, dtype=np.float64)
        self.rate_hz = rate_hz
        self._zi: FloatArray | None = None

    def step(self, heights: npt.ArrayLike) -> FloatArray:
        h = np.asarray(heights, dtype=np.float64)
        if len(h) == 0:
            return h
        if self._zi is None:  # start at rest on the first height
            self._zi = np.asarray(lfilter_zi(self.num, self.den) * h[0], dtype=np.float64)
        out, self._zi = lfilter(self.num, self.den, h, zi=self._zi)
        return np.asarray(out, dtype=np.float64)
