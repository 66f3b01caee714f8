"""Spatial fields of the simulated city: PM2.5/PM10/PM1, CO2, temperature/humidity, LTE coverage.

Air pollution and CO2 rise near main roads and at intersections (exponential decay with the
distance to them), follow the traffic's rush hours, and change from day to day (a background
level drawn per calendar day); a smooth random texture (sum of random plane waves) keeps the
map from being too regular. Coverage falls with the distance to the nearest cell site, with
smooth shadowing, and has holes (discs with no service at all). All fields are deterministic
functions of position and time for a given seed, so the truth of any segment can be computed
after the fact.

    >>> layout = UrbanLayout.from_points(main_road_xy, intersection_xy)
    >>> air = AirField(layout, seed=1)
    >>> air.pm(x, y, t_utc)   # (pm1, pm2.5, pm10) µg/m³
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree  # type: ignore[import-untyped,unused-ignore]

from simulators.geo import FloatArray
from simulators.modem import Radio


def densify(polylines: list[FloatArray], step: float = 10.0) -> FloatArray:
    """Points every ``step`` metres along each polyline (N×2)."""
    pts = []
    for line in polylines:
        seg = np.diff(line, axis=0)
        lens = np.hypot(seg[:, 0], seg[:, 1])
        for p, d, ln in zip(line[:-1], seg, lens, strict=True):
            k = max(1, int(ln // step))
            pts.append(p + np.outer(np.arange(k) / k, d))
        pts.append(line[-1:])
    return np.concatenate(pts) if pts else np.zeros((0, 2))


class _Distance:
    def __init__(self, points: FloatArray) -> None:
        self.tree = cKDTree(points) if len(points) else None

    def __call__(self, x: FloatArray, y: FloatArray) -> FloatArray:
        if self.tree is None:
            return np.full(np.shape(x), 1e6)
        d, _ = self.tree.query(np.stack([np.ravel(x), np.ravel(y)], axis=1))
        return np.asarray(d, dtype=np.float64).reshape(np.shape(x))


@dataclass(slots=True)
class UrbanLayout:
    main_roads: FloatArray  # points along main roads (N×2, metres)
    intersections: FloatArray  # (J×2)
    _d_main: _Distance = field(init=False)
    _d_int: _Distance = field(init=False)

    def __post_init__(self) -> None:
        self._d_main = _Distance(self.main_roads)
        self._d_int = _Distance(self.intersections)

    @classmethod
    def from_points(cls, main_roads: npt.ArrayLike, intersections: npt.ArrayLike) -> UrbanLayout:
        return cls(
            np.asarray(main_roads, float).reshape(-1, 2), np.asarray(intersections, float).reshape(-1, 2)
        )

    def distances(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._d_main(x, y), self._d_int(x, y)


class _Texture:
    """Smooth zero-mean, unit-variance 2-D random field (sum of random plane waves)."""

    def __init__(self, rng: np.random.Generator, wavelength: float, waves: int = 24) -> None:
        k = 2 * np.pi / (wavelength * rng.uniform(0.6, 1.6, waves))
        ang = rng.uniform(0, 2 * np.pi, waves)
        self.kx, self.ky = k * np.cos(ang), k * np.sin(ang)
        self.phase = rng.uniform(0, 2 * np.pi, waves)
        self.norm = math.sqrt(2.0 / waves)

    def __call__(self, x: FloatArray, y: FloatArray) -> FloatArray:
        xx, yy = np.asarray(x, float)[..., None], np.asarray(y, float)[..., None]
        return np.asarray(
            self.norm * np.cos(xx * self.kx + yy * self.ky + self.phase).sum(-1), dtype=np.float64
        )


def rush_hours(t_utc: npt.ArrayLike, utc_offset_h: float = 2.0) -> FloatArray:
    hour = ((np.asarray(t_utc, dtype=np.float64) / 3600.0) + utc_offset_h) % 24.0
    peaks = 0.8 * np.exp(-(((hour - 8.0) / 1.5) ** 2)) + 0.6 * np.exp(-(((hour - 17.0) / 2.0) ** 2))
    return np.asarray(1.0 + peaks, dtype=np.float64)


class AirField:
    """Particulate matter (µg/m³), CO2 (ppm), temperature (°C) and humidity (%) in the street."""

    def __init__(self, layout: UrbanLayout, seed: int = 11, background_pm25: float = 6.0) -> None:
        self.layout = layout
        self.seed = seed
        self.background_pm25 = background_pm25
        self._texture = _Texture(np.random.default_rng(seed), wavelength=800.0)
        self._days: dict[int, float] = {}

    def day_factor(self, t_utc: float) -> float:
        day = int(t_utc // 86_400)
        if day not in self._days:
            self._days[day] = float(np.random.default_rng([self.seed, day]).lognormal(0.0, 0.35))
        return self._days[day]

    def day_factors(self, t_utc: npt.ArrayLike) -> FloatArray:
        """:meth:`day_factor` for an array of times."""
        t = np.asarray(t_utc, dtype=np.float64)
        days, inverse = np.unique(np.floor(t / 86_400.0), return_inverse=True)
        values = np.array([self.day_factor(float(d) * 86_400.0) for d in days])
        return np.asarray(values[inverse].reshape(t.shape), dtype=np.float64)

    def _excess(self, x: FloatArray, y: FloatArray, t_utc: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        d_main, d_int = self.layout.distances(x, y)
        traffic = rush_hours(t_utc)
        return traffic * np.exp(-d_main / 40.0), traffic * np.exp(-d_int / 25.0)

    def pm(
        self, x: npt.ArrayLike, y: npt.ArrayLike, t_utc: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        xa, ya = np.asarray(x, float), np.asarray(y, float)
        road, junction = self._excess(xa, ya, t_utc)
        texture = 1.0 + 0.15 * self._texture(xa, ya)
        pm25 = self.background_pm25 * self.day_factors(t_utc) * (1.0 + 1.5 * road + 1.0 * junction) * texture
        return 0.7 * pm25, pm25, 1.7 * pm25

    def co2(self, x: npt.ArrayLike, y: npt.ArrayLike, t_utc: npt.ArrayLike) -> FloatArray:
        xa, ya = np.asarray(x, float), np.asarray(y, float)
        road, junction = self._excess(xa, ya, t_utc)
        day = 10.0 * (self.day_factors(t_utc) - 1.0)
        return np.asarray(
            420.0 + day + 60.0 * road + 40.0 * junction + 8.0 * self._texture(xa, ya), dtype=np.float64
        )

    def weather(self, t_utc: float) -> tuple[float, float]:
        hour = (t_utc / 3600.0 + 2.0) % 24.0
        temp = 14.0 + 5.0 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi) + 2.0 * (self.day_factor(t_utc) - 1.0)
        return temp, 65.0 - 1.5 * (temp - 14.0)


class CoverageField:
    """LTE radio at a point: path loss from the nearest site, shadowing, and holes without service."""

    def __init__(
        self,
        sites: npt.ArrayLike,
        holes: list[tuple[float, float, float]] | None = None,
        seed: int = 12,
    ) -> None:
        self.sites = np.asarray(sites, float).reshape(-1, 2)
        self.holes = np.asarray(holes or [], float).reshape(-1, 3)  # x, y, radius
        self._distance = _Distance(self.sites)
        self._shadow = _Texture(np.random.default_rng(seed), wavelength=300.0)

    @classmethod
    def around(
        cls, xy: FloatArray, rng: np.random.Generator, spacing: float = 1500.0, holes: int = 3
    ) -> CoverageField:
        """Sites on a jittered grid over the bounding box of ``xy``, a few holes on it."""
        lo, hi = xy.min(axis=0) - spacing / 2, xy.max(axis=0) + spacing / 2
        gx, gy = np.meshgrid(np.arange(lo[0], hi[0] + 1, spacing), np.arange(lo[1], hi[1] + 1, spacing))
        sites = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.normal(0, spacing / 6, (gx.size, 2))
        centres = xy[rng.integers(0, len(xy), holes)] if len(xy) else np.zeros((0, 2))
        radii = rng.uniform(80.0, 250.0, len(centres))
        return cls(sites, [(float(c[0]), float(c[1]), float(r)) for c, r in zip(centres, radii, strict=True)])

    def in_hole(self, x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        xa, ya = np.asarray(x, float), np.asarray(y, float)
        if not len(self.holes):
            return np.zeros(np.shape(xa), bool)
        dx = xa[..., None] - self.holes[:, 0]
        dy = ya[..., None] - self.holes[:, 1]
        return np.asarray((np.hypot(dx, dy) < self.holes[:, 2]).any(-1))

    def rsrp(self, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """RSRP in dBm (NaN inside a hole)."""
        xa, ya = np.asarray(x, float), np.asarray(y, float)
        d = np.maximum(self._distance(xa, ya), 30.0)
        value = -65.0 - 35.0 * np.log10(d / 30.0) + 6.0 * self._shadow(xa, ya)
        return np.asarray(np.where(self.in_hole(xa, ya), np.nan, value), dtype=np.float64)

    def radio(self, x: float, y: float) -> Radio | None:
        p = float(self.rsrp(np.array(x), np.array(y)))
        if math.isnan(p) or p < -140.0:
            return None
        sinr = max(-5.0, min(28.0, (p + 115.0) / 2.0))
        rsrq = max(-19.5, min(-3.0, -17.0 + sinr / 3.0))
        return Radio(rsrp=p, rsrq=rsrq, sinr=sinr)
