"""Truth trajectory: where the van is at any simulated time, from a path and a speed profile.

Every simulator is driven by a :class:`Trajectory`, never by how it was made (an OSM round, a
test polyline, a replayed log), so the sensors stay independent of routing. The speed profile is
a forward/backward pass over a 1 m grid: accelerate at ``accel`` up to the cruise speed of the
segment (a fraction of its limit), brake at ``decel`` for corners (lateral-acceleration limit),
stops and the end; stops hold the van still for their dwell time.

    >>> traj = Trajectory.build(frame, path_xy, limit_ms, stops=[Stop(s=350.0, dwell_s=60.0)])
    >>> truth = traj.sample(np.arange(0.0, traj.duration, 0.1))   # truth at any rate
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulators.geo import FloatArray, LocalFrame

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Stop:
    """Stand still at path distance ``s`` for ``dwell_s`` seconds."""

    s: float
    dwell_s: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class DriveStyle:
    """How the van is driven (defaults: a loaded light commercial vehicle in town)."""

    accel: float = 1.2  # m/s², pulling away
    decel: float = 1.8  # m/s², comfortable braking
    lateral: float = 1.8  # m/s², cornering limit
    cruise_min: float = 0.80  # cruise speed as a fraction of the limit, drawn per segment
    cruise_max: float = 1.00
    grid_m: float = 1.0


@dataclass(frozen=True, slots=True)
class TruthSamples:
    """Truth at the requested times (arrays of one length)."""

    t: FloatArray
    x: FloatArray
    y: FloatArray
    lon: FloatArray
    lat: FloatArray
    s: FloatArray  # distance along the path, m
    speed: FloatArray  # m/s
    accel: FloatArray  # longitudinal, m/s²
    heading: FloatArray  # radians, clockwise from north (course over ground)
    segment: IntArray  # path segment index
    edge: IntArray  # road-network edge index (-1 when not on a network)
    offset: FloatArray  # metres from the start of that edge


@dataclass(slots=True)
class Trajectory:
    """A path (polyline in a local frame) and the time law s(t) along it."""

    frame: LocalFrame
    path_xy: FloatArray  # (M, 2)
    path_s: FloatArray  # (M,) cumulative distance
    knot_t: FloatArray  # (K,) strictly increasing
    knot_s: FloatArray  # (K,)
    knot_v: FloatArray  # (K,)
    stops: list[Stop]
    stop_arrival_t: FloatArray
    seg_edge: IntArray  # (M-1,)
    seg_edge_start_s: FloatArray  # (M-1,) path distance where that segment's edge begins
    seg_canyon: FloatArray = field(default_factory=lambda: np.zeros(0))  # 0 open sky … 1 narrow street
    seg_tunnel: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def duration(self) -> float:
        return float(self.knot_t[-1])

    @property
    def length(self) -> float:
        return float(self.path_s[-1])

    @classmethod
    def build(
        cls,
        frame: LocalFrame,
        path_xy: npt.ArrayLike,
        limit_ms: npt.ArrayLike,
        stops: list[Stop] | None = None,
        *,
        style: DriveStyle | None = None,
        rng: np.random.Generator | None = None,
        start_dwell_s: float = 0.0,
        seg_edge: npt.ArrayLike | None = None,
        seg_edge_start_s: npt.ArrayLike | None = None,
        seg_canyon: npt.ArrayLike | None = None,
        seg_tunnel: npt.ArrayLike | None = None,
        extra_vmax: list[tuple[float, float, float]] | None = None,
    ) -> Trajectory:
        """Drive ``path_xy`` (M×2 metres) with speed limit ``limit_ms`` per segment (M-1, m/s).

        ``extra_vmax`` adds ``(s_from, s_to, v)`` caps (e.g. slowing down for speed bumps).
        """
        style = style or DriveStyle()
        rng = rng or np.random.default_rng(0)
        xy = np.asarray(path_xy, dtype=np.float64)
        limits = np.asarray(limit_ms, dtype=np.float64)
        seglen = np.hypot(*np.diff(xy, axis=0).T)
        keep = np.concatenate([[True], seglen > 1e-6])
        if not keep.all():  # zero-length segments have no direction; drop them
            idx = np.flatnonzero(keep[1:])
            limits = limits[idx]
            xy = xy[keep]
            seg_edge = None if seg_edge is None else np.asarray(seg_edge)[idx]
            seg_edge_start_s = None if seg_edge_start_s is None else np.asarray(seg_edge_start_s)[idx]
            seg_canyon = None if seg_canyon is None else np.asarray(seg_canyon)[idx]
            seg_tunnel = None if seg_tunnel is None else np.asarray(seg_tunnel)[idx]
            seglen = np.hypot(*np.diff(xy, axis=0).T)
        n_seg = len(seglen)
        path_s = np.concatenate([[0.0], np.cumsum(seglen)])
        total = float(path_s[-1])
        stops = sorted(stops or [], key=lambda st: st.s)

        grid = np.arange(0.0, total, style.grid_m)
        # path vertices are grid points too, so a speed limit changes exactly where its road does
        stop_points = [min(max(st.s, 0.0), total) for st in stops]
        grid = np.unique(np.concatenate([grid, path_s, stop_points]))
        seg_of = np.clip(np.searchsorted(path_s, grid, side="right") - 1, 0, n_seg - 1)
        cruise = limits * rng.uniform(style.cruise_min, style.cruise_max, size=n_seg)
        vmax = cruise[seg_of]
        # at a vertex the van is on both roads: the slower limit holds there
        at_vertex = np.searchsorted(grid, path_s[1:-1])
        vmax[at_vertex] = np.minimum(cruise[:-1], cruise[1:])
        # Corners: a turn of angle θ between segments is driven on a radius ~ the shorter leg.
        heading = np.arctan2(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
        turn = np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi)
        leg = np.minimum(np.minimum(seglen[:-1], seglen[1:]), 12.0)
        with np.errstate(divide="ignore"):
            radius = np.where(turn > 1e-3, leg / (2.0 * np.tan(np.minimum(turn, 3.1) / 2.0)), np.inf)
        radius = np.maximum(radius, 3.0)
        v_corner = np.sqrt(style.lateral * radius)
        corner_idx = np.searchsorted(grid, path_s[1:-1])
        corner_idx = np.clip(corner_idx, 0, len(grid) - 1)
        np.minimum.at(vmax, corner_idx, v_corner)
        for lo, hi, cap in extra_vmax or []:
            sel = (grid >= lo) & (grid <= hi)
            vmax[sel] = np.minimum(vmax[sel], cap)
        stop_idx = np.searchsorted(grid, [min(max(st.s, 0.0), total) for st in stops]).astype(np.int64)
        vmax[0] = 0.0
        vmax[-1] = 0.0
        vmax[stop_idx] = 0.0

        v = _speed_profile(grid, vmax, style.accel, style.decel)
        dt = 2.0 * np.diff(grid) / np.maximum(v[:-1] + v[1:], 1e-9)
        t_grid = np.concatenate([[0.0], np.cumsum(dt)]) + start_dwell_s

        # Insert dwell plateaus: each stop's grid point appears twice, at arrival and departure.
        dwell = np.zeros(len(grid))
        np.add.at(dwell, stop_idx, [st.dwell_s for st in stops])
        shift = np.cumsum(dwell)  # time added once the van has left each point
        depart = t_grid + shift
        arrive = depart - dwell
        has = dwell > 0
        kt = np.concatenate([arrive, depart[has]])
        ks = np.concatenate([grid, grid[has]])
        kv = np.concatenate([v, v[has]])
        order = np.lexsort((kt, kt))
        kt, ks, kv = kt[order], ks[order], kv[order]
        if start_dwell_s > 0:
            kt = np.concatenate([[0.0], kt])
            ks = np.concatenate([[0.0], ks])
            kv = np.concatenate([[0.0], kv])
        edge = np.full(n_seg, -1, np.int64) if seg_edge is None else np.asarray(seg_edge, np.int64)
        edge_start = path_s[:-1].copy() if seg_edge_start_s is None else np.asarray(seg_edge_start_s, float)
        return cls(
            frame=frame,
            path_xy=xy,
            path_s=path_s,
            knot_t=kt,
            knot_s=ks,
            knot_v=kv,
            stops=stops,
            stop_arrival_t=arrive[stop_idx] if stops else np.zeros(0),
            seg_edge=edge,
            seg_edge_start_s=edge_start,
            seg_canyon=np.zeros(n_seg) if seg_canyon is None else np.asarray(seg_canyon, float),
            seg_tunnel=np.zeros(n_seg, bool) if seg_tunnel is None else np.asarray(seg_tunnel, bool),
        )

    @classmethod
    def from_timed_points(
        cls, frame: LocalFrame, t: npt.ArrayLike, xy: npt.ArrayLike, *, min_step_m: float = 0.5
    ) -> Trajectory:
        """A trajectory through timed positions (a GPX track, the fixes of a log), moving at constant
        speed between them; points closer than ``min_step_m`` to the last kept one count as standing."""
        tt = np.asarray(t, dtype=np.float64)
        pts = np.asarray(xy, dtype=np.float64)
        order = np.argsort(tt, kind="stable")
        tt, pts = tt[order] - tt[order][0], pts[order]
        keep_t, keep_xy = [0.0], [pts[0]]
        for ti, p in zip(tt[1:].tolist(), pts[1:], strict=True):
            if ti <= keep_t[-1]:
                continue
            keep_t.append(ti)
            keep_xy.append(keep_xy[-1] if np.hypot(*(p - keep_xy[-1])) < min_step_m else p)
        kt = np.asarray(keep_t)
        kxy = np.asarray(keep_xy)
        step = np.hypot(*np.diff(kxy, axis=0).T)
        moving = np.concatenate([[True], step > 0])
        path = kxy[moving]
        if len(path) < 2:
            path = np.stack([path[0], path[0] + np.array([0.01, 0.0])])
        path_s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
        ks = np.concatenate([[0.0], np.cumsum(step)])
        kv = np.concatenate([[0.0], step / np.maximum(np.diff(kt), 1e-9)])
        n_seg = len(path) - 1
        return cls(
            frame=frame,
            path_xy=path,
            path_s=path_s,
            knot_t=kt,
            knot_s=np.minimum(ks, path_s[-1]),
            knot_v=kv,
            stops=[],
            stop_arrival_t=np.zeros(0),
            seg_edge=np.full(n_seg, -1, np.int64),
            seg_edge_start_s=path_s[:-1].copy(),
            seg_canyon=np.zeros(n_seg),
            seg_tunnel=np.zeros(n_seg, bool),
        )

    def distance_at(self, t: npt.ArrayLike) -> FloatArray:
        return np.interp(np.asarray(t, dtype=np.float64), self.knot_t, self.knot_s)

    def segment_at(self, s: npt.ArrayLike) -> IntArray:
        seg = np.searchsorted(self.path_s, np.asarray(s, dtype=np.float64), side="right") - 1
        return np.clip(seg, 0, len(self.path_s) - 2).astype(np.int64)

    def xy_at(self, s: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        s_arr = np.asarray(s, dtype=np.float64)
        return (
            np.interp(s_arr, self.path_s, self.path_xy[:, 0]),
            np.interp(s_arr, self.path_s, self.path_xy[:, 1]),
        )

    def kinematics(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Distance, speed and longitudinal acceleration at ``t`` (the cheap part of :meth:`sample`)."""
        tt = np.clip(t, 0.0, self.duration)
        s = np.interp(tt, self.knot_t, self.knot_s)
        k = np.clip(np.searchsorted(self.knot_t, tt, side="right") - 1, 0, len(self.knot_t) - 2)
        dts = self.knot_t[k + 1] - self.knot_t[k]
        moving = (self.knot_s[k + 1] > self.knot_s[k]) & (dts > 0)
        speed = np.where(moving, np.interp(tt, self.knot_t, self.knot_v), 0.0)
        acc = np.where(dts > 0, (self.knot_v[k + 1] - self.knot_v[k]) / np.where(dts > 0, dts, 1.0), 0.0)
        return s, speed, acc

    def heading_at_time(self, t: FloatArray) -> FloatArray:
        seg = self.segment_at(self.distance_at(np.clip(t, 0.0, self.duration)))
        d = self.path_xy[seg + 1] - self.path_xy[seg]
        return np.asarray(np.arctan2(d[:, 0], d[:, 1]) % (2 * np.pi), dtype=np.float64)

    def sample(self, t: npt.ArrayLike) -> TruthSamples:
        """Truth at times ``t`` (seconds since the start of the trajectory)."""
        tt = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.duration)
        s = self.distance_at(tt)
        # Speed from the time law itself (distance per time over each knot interval).
        k = np.clip(np.searchsorted(self.knot_t, tt, side="right") - 1, 0, len(self.knot_t) - 2)
        dts = np.diff(self.knot_t)
        v_int = np.diff(self.knot_s) / np.maximum(dts, 1e-12)
        v_int = np.where(dts > 0, v_int, 0.0)
        speed = np.interp(tt, self.knot_t, self.knot_v)
        acc = np.where(dts[k] > 0, np.diff(self.knot_v)[k] / np.maximum(dts[k], 1e-12), 0.0)
        speed = np.where(v_int[k] == 0.0, 0.0, speed)
        seg = self.segment_at(s)
        d = np.diff(self.path_xy, axis=0)
        heading = np.arctan2(d[seg, 0], d[seg, 1]) % (2 * np.pi)
        x, y = self.xy_at(s)
        lon, lat = self.frame.to_lonlat(x, y)
        edge = self.seg_edge[seg]
        offset = s - self.seg_edge_start_s[seg]
        return TruthSamples(tt, x, y, lon, lat, s, speed, acc, heading, seg, edge, offset)


def _speed_profile(grid: FloatArray, vmax: FloatArray, accel: float, decel: float) -> FloatArray:
    """Fastest speed under ``vmax`` reachable with bounded acceleration and braking."""
    ds = np.diff(grid)
    v = vmax.copy()
    two_a = 2.0 * accel * ds
    two_b = 2.0 * decel * ds
    vl = v.tolist()
    for i in range(1, len(vl)):
        reach = (vl[i - 1] * vl[i - 1] + two_a[i - 1]) ** 0.5
        vl[i] = min(vl[i], reach)
    for i in range(len(vl) - 2, -1, -1):
        reach = (vl[i + 1] * vl[i + 1] + two_b[i]) ** 0.5
        vl[i] = min(vl[i], reach)
    return np.asarray(vl, dtype=np.float64)
