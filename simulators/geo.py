"""Local metric frame for the simulators: lon/lat degrees ↔ east/north metres about an origin.

Equirectangular, like the road network's projection, so a trajectory built on the network's
``node_xy`` maps back to the same lon/lat. Distortion is far below GNSS noise at city scale.

    >>> frame = LocalFrame(lon0=24.94, lat0=60.17)
    >>> lon, lat = frame.to_lonlat(np.array([100.0]), np.array([0.0]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """East/north metres about ``(lon0, lat0)``."""

    lon0: float
    lat0: float

    @property
    def metres_per_deg_lon(self) -> float:
        return float(np.deg2rad(1.0) * EARTH_RADIUS_M * np.cos(np.deg2rad(self.lat0)))

    @property
    def metres_per_deg_lat(self) -> float:
        return float(np.deg2rad(1.0) * EARTH_RADIUS_M)

    def to_xy(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self.metres_per_deg_lon
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * self.metres_per_deg_lat
        return x, y

    def to_lonlat(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        lon = np.asarray(x, dtype=np.float64) / self.metres_per_deg_lon + self.lon0
        lat = np.asarray(y, dtype=np.float64) / self.metres_per_deg_lat + self.lat0
        return lon, lat
